// Operating a running batch: pause, resume, cancel, its limits, and one item's cancellation. Each is
// one Temporal call made as the caller (its token names it in Temporal's history, so the batch's
// audit log names the token); the batch applies it on its next workflow task.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { MAX_CONCURRENCY, MAX_RATE } from '../../../workflows/limits';
import type { SetLimitsInput } from '../../../workflows/messages';
import { typed } from '../app';
import { actOnBatch, describeOr404, describedStatus, endedProblem, withinDeadline } from '../batch-lookup';
import type { ApiContext } from '../context';
import { batchPath } from '../links';
import { ApiProblem } from '../problem';
import { BatchIdParam, COMMON_PROBLEMS, Problem } from '../schemas';

const Requested = z
  .object({
    batchId: z.string(),
    action: z.enum(['pause', 'resume', 'cancel']),
    status: z
      .literal('requested')
      .describe(
        'Temporal has recorded the request; the batch applies it on its next step (pause: no new item starts, items in flight finish; cancel: in-flight items are cancelled and the report written). Follow it with GET /v1/batches/{id} or the events stream.',
      ),
  })
  .describe('An operation the batch has been asked to carry out.');

const PauseRequested = Requested.extend({
  acknowledged: z
    .boolean()
    .describe(
      'Whether the pause is acknowledged: no item starts any more (items in flight finish). The answer waits for it, at most 10 s.',
    ),
  waitingFor: z
    .array(z.object({ child: z.string(), cause: z.string() }))
    .optional()
    .describe(
      'Not acknowledged in time: the page children (or the batch) that may still start items, and why each has not answered (the first 5).',
    ),
  moreWaiting: z.number().int().optional().describe('Children not listed in `waitingFor`.'),
}).describe('A pause, and whether the batch has acknowledged it.');

const PauseBody = z
  .object({ reason: z.string().max(500).optional().describe('Shown in the status and the audit log.') })
  .strict()
  // A POST without a body is a pause without a reason.
  .nullish();

/** `0` and `null` remove a rate or a budget, as `durabatch set --rate 0` does. */
const removable = (max: number | undefined, what: string) =>
  z
    .union([
      z.null(),
      z.literal(0),
      max === undefined ? z.number().positive() : z.number().positive().max(max),
    ])
    .optional()
    .describe(what);

const LimitsBody = z
  .object({
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(MAX_CONCURRENCY)
      .optional()
      .describe(`Items in flight, 1..${MAX_CONCURRENCY}.`),
    rate: removable(
      MAX_RATE,
      `Items started per second, above 0 and at most ${MAX_RATE}; 0 or null: unpaced.`,
    ),
    budget: removable(undefined, 'Cost budget, above 0; 0 or null: no budget.'),
  })
  .strict()
  .refine((b) => b.concurrency !== undefined || b.rate !== undefined || b.budget !== undefined, {
    message: 'give at least one of "concurrency", "rate", "budget", e.g. {"concurrency": 20}',
  })
  .describe('The limits to change; the others stay as they are.');

const LimitsInForce = z
  .object({
    concurrency: z.number().int(),
    rate: z.number().nullable().describe('Items started per second; null: unpaced.'),
    budget: z.number().nullable().describe('Cost budget; null: none.'),
  })
  .describe('The limits now in force.');

const ItemParams = BatchIdParam.extend({
  key: z.string().min(1).max(1_000).describe('The item’s key (URL-encoded).'),
});

const ItemCancelled = z.object({
  key: z.string(),
  outcome: z
    .enum(['cancelling', 'skipped'])
    .describe(
      '`cancelling`: the item was running and its work is being stopped (it ends `cancelled`); `skipped`: it had not started and never will.',
    ),
});

const OPERATION_PROBLEMS = { 404: Problem, 409: Problem, ...COMMON_PROBLEMS } as const;

export function registerOperateRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const api = typed(app);

  api.post(
    '/v1/batches/:id/pause',
    {
      config: { scope: 'operate' },
      schema: {
        summary: 'Pause a batch',
        description:
          'No new item starts; items in flight finish. Answers once the pause is acknowledged (no item can start any more: in page mode every page child has seen it), or after 10 s with what may still start items and why. Pausing a paused batch changes nothing.',
        tags: ['operate'],
        params: BatchIdParam,
        body: PauseBody,
        response: { 202: PauseRequested, ...OPERATION_PROBLEMS },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const c = ctx.clientFor(req.principal);
      const ack = await actOnBatch(c, id, 'pause', () => c.pause(id, req.body?.reason));
      return reply.code(202).send({
        batchId: id,
        action: 'pause',
        status: 'requested',
        acknowledged: ack.acknowledged,
        ...(ack.acknowledged ? {} : { waitingFor: ack.waitingFor, moreWaiting: ack.moreWaiting }),
      });
    },
  );

  api.post(
    '/v1/batches/:id/resume',
    {
      config: { scope: 'operate' },
      schema: {
        summary: 'Resume a paused batch',
        description:
          'Items start again (also after a budget, source or worker pause). A batch that is not paused answers 409.',
        tags: ['operate'],
        params: BatchIdParam,
        response: { 202: Requested, ...OPERATION_PROBLEMS },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const c = ctx.clientFor(req.principal);
      const desc = await describeOr404(c, id);
      if (desc.status.name !== 'RUNNING') throw endedProblem(id, desc, 'resume');
      // BatchStatus changes with every status change of the batch, so it says `paused` at once in
      // the usual case; a pause sent a moment ago may not be applied yet: then the batch is asked.
      if (describedStatus(desc) !== 'paused') {
        const now = await c.progress(id);
        if (now.status !== 'paused') {
          throw new ApiProblem(
            409,
            'Conflict',
            `batch "${id}" is ${now.status}, not paused: there is nothing to resume`,
            `pause it first with POST ${batchPath(id, '/pause')}, or leave it running`,
            { batchStatus: now.status },
          );
        }
      }
      await actOnBatch(c, id, 'resume', () => c.resume(id));
      return reply.code(202).send({ batchId: id, action: 'resume', status: 'requested' });
    },
  );

  api.post(
    '/v1/batches/:id/cancel',
    {
      config: { scope: 'operate' },
      schema: {
        summary: 'Cancel a batch',
        description:
          'In-flight items are cancelled, items not started are not run, and the report is written. A batch that has ended answers 409.',
        tags: ['operate'],
        params: BatchIdParam,
        response: { 202: Requested, ...OPERATION_PROBLEMS },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const c = ctx.clientFor(req.principal);
      // Temporal takes a cancel request for an ended workflow without complaint: ask first.
      const desc = await describeOr404(c, id);
      if (desc.status.name !== 'RUNNING') throw endedProblem(id, desc, 'cancel');
      await actOnBatch(c, id, 'cancel', () => c.cancel(id));
      return reply.code(202).send({ batchId: id, action: 'cancel', status: 'requested' });
    },
  );

  api.patch(
    '/v1/batches/:id',
    {
      config: { scope: 'operate' },
      schema: {
        summary: 'Change a running batch’s limits',
        description:
          'Concurrency, rate and budget, with the bounds of `durabatch set`; answered by the batch itself with the limits now in force. A budget raised above the cost of a batch paused by its budget needs a resume.',
        tags: ['operate'],
        params: BatchIdParam,
        body: LimitsBody,
        response: { 200: LimitsInForce, ...OPERATION_PROBLEMS },
      },
    },
    async (req) => {
      const { id } = req.params;
      const { concurrency, rate, budget } = req.body;
      const change: SetLimitsInput = {
        ...(concurrency !== undefined ? { concurrency } : {}),
        ...(rate !== undefined ? { rate: rate || null } : {}),
        ...(budget !== undefined ? { budget: budget || null } : {}),
      };
      const c = ctx.clientFor(req.principal);
      const limits = await actOnBatch(c, id, 'change', () =>
        withinDeadline(c, id, () => c.setLimits(id, change)),
      );
      return { concurrency: limits.concurrency, rate: limits.rate ?? null, budget: limits.budget ?? null };
    },
  );

  api.post(
    '/v1/batches/:id/items/:key/cancel',
    {
      config: { scope: 'operate' },
      schema: {
        summary: 'Cancel one item',
        description:
          'A running item’s work is stopped (it ends `cancelled`); an item not started yet is skipped. The batch goes on. An unknown key answers 404, an item that has already finished 409.',
        tags: ['operate'],
        params: ItemParams,
        response: { 200: ItemCancelled, ...OPERATION_PROBLEMS },
      },
    },
    async (req) => {
      const { id, key } = req.params;
      const c = ctx.clientFor(req.principal);
      const res = await actOnBatch(c, id, 'cancel', () => withinDeadline(c, id, () => c.cancelItem(id, key)));
      return { key: res.key, outcome: res.action };
    },
  );
}

// Batches across the namespace: a filtered list in cursor pages (GET /v1/batches) and totals over a
// window (GET /v1/analytics). Both read Temporal's visibility store and the batches' own reports.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { LIST_STATUSES, parseSince } from '../../client/list-query';
import { InputError } from '../../errors';
import { analytics } from '../analytics';
import { typed } from '../app';
import { batchPage } from '../batch-pages';
import type { ApiContext } from '../context';
import { BatchLinks, batchLinks } from '../links';
import { ApiProblem } from '../problem';
import { COMMON_PROBLEMS } from '../schemas';

const SinceParam = z
  .string()
  .min(1)
  .max(64)
  .describe(
    'Only batches started after this: a duration back from now (90s, 30m, 24h, 7d, 2w) or an ISO date/time.',
  );

const ListQuery = z.object({
  status: z.enum(LIST_STATUSES).optional().describe('Only batches in this state.'),
  since: SinceParam.optional(),
  source: z
    .string()
    .min(1)
    .max(500)
    .optional()
    .describe('Only batches whose source path contains this (any case).'),
  label: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Only batches with exactly this label (given when submitted).'),
  cursor: z.string().min(1).max(4_096).optional().describe('The `nextCursor` of the previous page.'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(500)
    .default(50)
    .describe('Batches per page, 1..500. Default 50.'),
});

const ListEntry = z.object({
  batchId: z.string(),
  status: z
    .string()
    .describe('The batch’s status word (running, paused, completed, …, terminated, timed_out).'),
  total: z.number().int().nullable(),
  percent: z
    .number()
    .nullable()
    .describe('Percent finished, as last published by the batch (in steps of 5 while it runs).'),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  source: z.string().nullable(),
  label: z.string().nullable(),
  retryOf: z.string().nullable().describe('The batch whose failed items this one retries.'),
  succeeded: z.number().int().nullable().describe('From the report, once the batch has ended.'),
  failed: z.number().int().nullable().describe('From the report, once the batch has ended.'),
  links: BatchLinks,
});

const ListAnswer = z.object({
  batches: z.array(ListEntry),
  nextCursor: z
    .string()
    .nullable()
    .describe(
      'Pass as `cursor` (with the same filters) for the next page; null on the last page. A page may hold fewer than `limit` batches when `source` or `label` skip many: follow the cursor until it is null.',
    ),
});

const AnalyticsQuery = z.object({
  since: SinceParam.default('24h'),
  source: ListQuery.shape.source,
  label: ListQuery.shape.label,
});

const Count = z.number().int();

const AnalyticsAnswer = z
  .object({
    since: z.string(),
    until: z.string().describe('The time of the answer.'),
    batches: z.object({
      total: Count.describe('Batches started in the window (matching source/label).'),
      byStatus: z.record(z.string(), Count),
      unreadable: Count.describe(
        'Batches counted in byStatus whose figures could not be read (an ended batch without a readable results/summary.json on this machine, a running batch that did not answer): their items are not in the totals.',
      ),
      unreadableIds: z.array(z.string()).describe('The first 20 unreadable batches.'),
    }),
    items: z.object({
      total: Count,
      succeeded: Count,
      failed: Count,
      skipped: Count,
      cancelled: Count,
      running: Count,
      pending: Count,
    }),
    cost: z.number(),
    busySeconds: z
      .number()
      .describe(
        'Seconds during which at least one of these batches was running (overlaps count once; a running batch up to now).',
      ),
    itemsPerSecond: z
      .number()
      .describe(
        'Processed items (succeeded + failed) per second of busySeconds: the throughput while batches were running.',
      ),
    errorsByType: z
      .record(z.string(), Count)
      .describe('Failed items by error type, summed over the batches.'),
    truncated: z.boolean().describe('More than 5,000 batches matched: the totals cover the newest 5,000.'),
  })
  .describe('Totals across batches started since `since`.');

/** A `since` the service cannot read, named as the query parameter it is (not the CLI flag). */
function resolveSince(value: string): Date {
  try {
    return parseSince(value);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    throw new ApiProblem(
      400,
      'Bad Request',
      `query parameter "since" (${JSON.stringify(value)}) is neither a duration nor an ISO date`,
      err.hint?.replace(/^use /, 'give '),
    );
  }
}

export function registerListingRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const api = typed(app);
  // Listing reads visibility only: the service's own client (identity `service`) is enough.
  const reader = ctx.clientFor({ name: 'service', scopes: new Set() });

  api.get(
    '/v1/batches',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'List batches',
        description:
          'Newest first as Temporal orders them (running batches first, then by most recent end), in cursor pages.',
        tags: ['batches'],
        querystring: ListQuery,
        response: { 200: ListAnswer, ...COMMON_PROBLEMS },
      },
    },
    async (req) => {
      const { cursor, limit, ...filters } = req.query;
      const page = await batchPage(reader.client, ctx.env.namespace, filters, limit, cursor, resolveSince);
      return {
        batches: page.batches.map((b) => ({
          batchId: b.batchId,
          status: b.status,
          total: b.total,
          percent: b.percent,
          startedAt: b.startedAt,
          endedAt: b.endedAt,
          source: b.source,
          label: b.label,
          retryOf: b.retryOf,
          succeeded: b.succeeded,
          failed: b.failed,
          links: batchLinks(b.batchId, reader.webUiUrl(b.batchId)),
        })),
        nextCursor: page.nextCursor,
      };
    },
  );

  api.get(
    '/v1/analytics',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Totals across batches',
        description:
          'Batches started since `since` (default 24h), optionally only those of a source or label: batches by status, item outcomes, cost, throughput and errors by type.',
        tags: ['batches'],
        querystring: AnalyticsQuery,
        response: { 200: AnalyticsAnswer, ...COMMON_PROBLEMS },
      },
    },
    async (req) => {
      const { since, source, label } = req.query;
      return analytics(
        reader.client,
        ctx.env.namespace,
        { since: resolveSince(since), source, label },
        (batchId) => ctx.progress(batchId),
        ctx.storageRoots,
      );
    },
  );
}

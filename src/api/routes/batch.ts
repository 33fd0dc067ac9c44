// One batch's status: what `durabatch status --json` gives, from the live query (shared briefly
// between callers) or the final summary; with `include=failed`, its failed items too, so an
// application shows "what failed" from one request.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { typed } from '../app';
import type { ApiContext } from '../context';
import { batchFiles } from '../events/batch-files';
import { snapshotsOf } from '../events/batch-snapshots';
import { listItems } from '../items/item-listing';
import { BatchIdParam, BatchStatus, COMMON_PROBLEMS, Problem } from '../schemas';

/** Failed items embedded in a status answer; the items route pages through the rest. */
const FAILED_IN_STATUS = 100;

const StatusQuery = z.object({
  include: z
    .enum(['failed'])
    .optional()
    .describe(
      `\`failed\`: also list the failed items (at most ${FAILED_IN_STATUS}; more through /items?status=failed).`,
    ),
});

const FailedItem = z.object({
  key: z.string(),
  index: z.number().int(),
  errorType: z.string().optional(),
  error: z.string().optional(),
  attempts: z.number().int(),
});

const StatusWithFailed = BatchStatus.extend({
  failedItems: z
    .array(FailedItem)
    .optional()
    .describe('With include=failed: the failed items, in source order.'),
  failedItemsNext: z
    .string()
    .nullable()
    .optional()
    .describe('With include=failed: the `cursor` for /items?status=failed when more failed items exist.'),
});

export function registerBatchRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const snapshots = snapshotsOf(ctx);
  typed(app).get(
    '/v1/batches/:id',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'A batch’s status',
        description:
          'Counts, percent, throughput, latency, ETA, cost, limits and state (`include=failed` adds the failed items). A running batch that cannot move (no worker polling, workflow task failing) answers 503 naming the cause.',
        tags: ['batches'],
        params: BatchIdParam,
        querystring: StatusQuery,
        response: { 200: StatusWithFailed, 404: Problem, ...COMMON_PROBLEMS },
      },
    },
    async (req) => {
      const status = await ctx.progress(req.params.id);
      if (req.query.include !== 'failed') return status;
      const files = await batchFiles(ctx.clientFor(req.principal), req.params.id, ctx.storageRoots);
      const page = await listItems(files, snapshots, {
        from: 0,
        limit: FAILED_IN_STATUS,
        only: new Set(['failed']),
      });
      return {
        ...status,
        failedItems: page.items.map(({ key, index, errorType, error, attempts }) => ({
          key,
          index,
          errorType,
          error,
          attempts,
        })),
        failedItemsNext: page.nextCursor,
      };
    },
  );
}

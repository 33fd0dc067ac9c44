// GET /v1/batches/{id}/items: a batch's items with their state, attempts, latency, error, progress
// and produced files, in index order, in pages; pending items included.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { typed } from '../app';
import type { ApiContext } from '../context';
import { batchFiles } from '../events/batch-files';
import { snapshotsOf } from '../events/batch-snapshots';
import { listItems } from '../items/item-listing';
import { ITEM_STATES, type ItemState } from '../items/item-states';
import { BatchIdParam, COMMON_PROBLEMS, Problem } from '../schemas';

const MAX_LIMIT = 500;

const ItemsQuery = z.object({
  status: z
    .string()
    .max(200)
    .optional()
    .refine(
      (v) =>
        v === undefined || v.split(',').every((s) => (ITEM_STATES as readonly string[]).includes(s.trim())),
      { message: `status: one or more of ${ITEM_STATES.join(', ')}, separated by commas` },
    )
    .describe(`Only items in these states (comma-separated): ${ITEM_STATES.join(', ')}.`),
  cursor: z
    .string()
    .regex(/^\d{1,9}$/, 'cursor: the nextCursor of the previous page')
    .optional()
    .describe('The `nextCursor` of the previous page.'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_LIMIT)
    .default(100)
    .describe(`Items per page, 1 to ${MAX_LIMIT} (default 100).`),
});

const ItemRow = z.object({
  key: z.string(),
  index: z.number().int(),
  state: z.enum(ITEM_STATES),
  attempts: z.number().int().describe('Attempts made (of the step that ran last, in pipelines).'),
  latencyMs: z.number().optional(),
  error: z.string().optional().describe('Why it failed, or why its last attempt failed (retrying).'),
  errorType: z.string().optional(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  progress: z.number().optional().describe('0 to 100, as the processor reported it (100 once succeeded).'),
  outputFiles: z.array(z.string()).describe('Files the item produced, relative to the output directory.'),
});

const ItemPage = z.object({
  items: z.array(ItemRow),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last one.'),
});

export function registerItemRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const snapshots = snapshotsOf(ctx);
  typed(app).get(
    '/v1/batches/:id/items',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'A batch’s items, in pages',
        description:
          'Every item in source order with its state (pending, running, retrying, succeeded, failed, cancelled, skipped), attempts, latency, error, progress and output files. Filter by `status`; page with `cursor`.',
        tags: ['batches'],
        params: BatchIdParam,
        querystring: ItemsQuery,
        response: { 200: ItemPage, 404: Problem, ...COMMON_PROBLEMS },
      },
    },
    async (req) => {
      const files = await batchFiles(ctx.clientFor(req.principal), req.params.id, ctx.storageRoots);
      const only = new Set(
        (req.query.status ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '') as ItemState[],
      );
      return listItems(files, snapshots, {
        from: Number(req.query.cursor ?? 0),
        limit: req.query.limit,
        only,
      });
    },
  );
}

// One batch's status: what `durabatch status --json` gives, from the live query (shared briefly
// between callers) or the final summary.
import type { FastifyInstance } from 'fastify';
import { typed } from '../app';
import type { ApiContext } from '../context';
import { BatchIdParam, BatchStatus, COMMON_PROBLEMS, Problem } from '../schemas';

export function registerBatchRoutes(app: FastifyInstance, ctx: ApiContext): void {
  typed(app).get(
    '/v1/batches/:id',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'A batch’s status',
        description:
          'Counts, percent, throughput, latency, ETA, cost, limits and state. A running batch that cannot move (no worker polling, workflow task failing) answers 503 naming the cause.',
        tags: ['batches'],
        params: BatchIdParam,
        response: { 200: BatchStatus, 404: Problem, ...COMMON_PROBLEMS },
      },
    },
    async (req) => ctx.progress(req.params.id),
  );
}

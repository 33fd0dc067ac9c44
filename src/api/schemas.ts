// The shapes the service answers with, as zod schemas: Fastify serializes by them and the OpenAPI
// document is generated from them. Field names follow `durabatch status --json` (docs/cli.md).
import { z } from 'zod';

export const BatchIdParam = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'a batch id: letters, digits, ".", "_" and "-"')
    .describe('The batch id (also its parent workflow id).'),
});

const Latency = z.object({ avg: z.number(), p50: z.number(), p95: z.number(), p99: z.number() });

export const BatchStatus = z
  .object({
    batchId: z.string(),
    status: z.enum([
      'running',
      'paused',
      'cancelling',
      'completed',
      'partial_failure',
      'failed',
      'cancelled',
    ]),
    total: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int(),
    cancelled: z.number().int(),
    running: z.number().int(),
    pending: z.number().int(),
    percent: z.number(),
    throughputPerMinute: z.number(),
    latencyMs: Latency,
    stepLatencyMs: z
      .record(z.string(), Latency)
      .optional()
      .describe('Latency per pipeline step (pipelines only).'),
    errorRate: z.number(),
    etaSeconds: z.number().nullable(),
    cost: z.number(),
    budget: z.number().nullable().optional(),
    startedAt: z.string(),
    endedAt: z.string().nullable(),
    outputDir: z.string(),
    webUiUrl: z.string().nullable(),
    concurrency: z.number().int().optional(),
    rate: z.number().nullable().optional(),
    errorsByType: z.record(z.string(), z.number()).optional(),
    statusReason: z.string().optional(),
    runNumber: z.number().int().optional(),
    pauseAcknowledged: z
      .boolean()
      .optional()
      .describe(
        'Only while paused: true once no item starts any more (every page child has seen the pause).',
      ),
    pauseUnacknowledgedBy: z
      .array(z.string())
      .optional()
      .describe(
        'Only while a pause is not acknowledged: the page children that may still start items (the first 20).',
      ),
  })
  .describe('A batch status: the counts always add up to total (same fields as `durabatch status --json`).');

export const Problem = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    fix: z.string().optional(),
  })
  .describe('An error (RFC 9457 problem details) with what to do about it in `fix`.');

/** The problem responses every authenticated route may give. */
export const COMMON_PROBLEMS = {
  400: Problem,
  401: Problem,
  403: Problem,
  429: Problem,
  503: Problem,
} as const;

// The typed surface for authors of `module` processors:
//   export default (async (item, ctx) => { ... }) satisfies ProcessFunction<MyRow>;
// Kept free of runtime dependencies so a user's module can import it cheaply.
import type { Logger } from 'pino';
import type { StepResult } from '../workflows/types';

/**
 * Throw this when retrying cannot help (missing field, rejected by the target): the item fails at
 * once instead of spending its retries. `type` becomes the failure type in the report (default
 * `NonRetryableError`). durabatch also recognises it by `name`, because a user's module may resolve
 * its own copy of this package.
 */
export class NonRetryableError extends Error {
  override name = 'NonRetryableError';
  constructor(
    message: string,
    readonly type?: string,
  ) {
    super(message);
  }
}

/** What a module's function gets besides the item, for one attempt. */
export interface ProcessContext {
  batchId: string;
  key: string;
  /** 1 on the first attempt. */
  attempt: number;
  /** The same on every attempt of this item (and step): send it to targets that deduplicate. */
  idempotencyKey: string;
  /** Aborted when the item is cancelled or the attempt times out: pass it to fetch and friends. */
  signal: AbortSignal;
  /** Records progress; a later attempt sees the last details as `lastHeartbeat`. */
  heartbeat(details?: unknown): void;
  /**
   * Reports how far this item is, from 0 to 100: shown per item by the service (`GET
   * /v1/batches/{id}/items`, `progress` events) and the console. Call it as often as you like: at
   * most two reports a second per item are kept, the latest of each half-second.
   */
  progress(percent: number): void;
  /** Details of the last heartbeat of an earlier attempt (undefined on the first). */
  lastHeartbeat: unknown;
  log: Logger;
  /** The batch output directory. */
  outputDir: string;
  /** This item's folder for produced files (absolute; exists during the call). */
  documentsDir: string;
  /** Results of earlier pipeline steps, by step name. */
  steps: Record<string, StepResult>;
}

/**
 * A module processor's default export. The returned value (JSON, bounded) becomes the step's body;
 * a numeric `cost` property is added to the batch's cost.
 */
export type ProcessFunction<T = Record<string, unknown>> = (
  item: { key: string; index: number; line: number; data: T },
  ctx: ProcessContext,
) => Promise<unknown>;

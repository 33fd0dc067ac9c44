// Items this worker is retrying: their last attempt failed and Temporal will run them again, or they
// are running on a second or later attempt. `run` shows the count in its progress line ("retrying
// 3") instead of printing each transient failure: an operator needs to know retries are happening,
// not read every 503. Built from the item activity's own attempts (an interceptor), so it costs no
// history events; it sees only this worker's items.
import { ApplicationFailure, CancelledFailure, type Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';

/** The activity that runs one step of one item (per-item children and pages alike). */
const ITEM_ACTIVITY = 'processItem';
/** An entry not renewed by a new attempt for this long is dropped (the item was cancelled meanwhile). */
const STALE_MS = 10 * 60_000;

export class RetryTracker {
  /** `batchId\0itemKey` → when the entry was last renewed. */
  private readonly items = new Map<string, number>();

  /** Items of `batchId` (all batches when omitted) waiting for, or running, a retry here. */
  count(batchId?: string): number {
    const now = Date.now();
    let n = 0;
    for (const [id, at] of this.items) {
      if (now - at > STALE_MS) this.items.delete(id);
      else if (batchId === undefined || id.startsWith(`${batchId}\0`)) n++;
    }
    return n;
  }

  /** For Worker.create's `interceptors.activity`. */
  readonly interceptor = (ctx: Context): { inbound: ActivityInboundCallsInterceptor } => ({
    inbound: { execute: (input, next) => this.execute(ctx, input, next) },
  });

  private async execute(
    ctx: Context,
    input: ActivityExecuteInput,
    next: Next<ActivityInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    const { activityType, attempt, retryPolicy } = ctx.info;
    const id = activityType === ITEM_ACTIVITY ? itemId(input.args[0]) : undefined;
    if (id === undefined) return next(input);
    if (attempt > 1) this.items.set(id, Date.now());
    try {
      const result = await next(input);
      this.items.delete(id);
      return result;
    } catch (err) {
      const max = retryPolicy?.maximumAttempts ?? 0;
      const final =
        err instanceof CancelledFailure ||
        (err instanceof ApplicationFailure &&
          (err.nonRetryable || (retryPolicy?.nonRetryableErrorTypes ?? []).includes(err.type ?? ''))) ||
        (max > 0 && attempt >= max);
      if (final) this.items.delete(id);
      else this.items.set(id, Date.now());
      throw err;
    }
  }
}

function itemId(arg: unknown): string | undefined {
  const input = arg as { batchId?: unknown; item?: { key?: unknown } } | undefined;
  if (typeof input?.batchId !== 'string' || typeof input.item?.key !== 'string') return undefined;
  return `${input.batchId}\0${input.item.key}`;
}

// Starting items, as every workflow that starts them does it (the batch starting item or page
// children, a page starting its items): when the next start may go (pacing), when reading the source
// must pause the batch instead, what an item an operator cancelled before it started records, and
// that a start once issued completes. None of it holds state of a particular workflow.
import { ActivityFailure, ApplicationFailure, CancellationScope } from '@temporalio/workflow';
import { workflowNow } from './clock';
import { FailureType, SOURCE_PAUSE_TYPES } from './failure-types';
import { unranOutcome } from './outcomes';
import type { ItemOutcome } from './types';

/** Spaces starts at most `perSec` a second apart, in workflow time (`now` is injectable for tests). */
export class Pacer {
  private nextAt = 0;

  constructor(private readonly now: () => number = workflowNow) {}

  /**
   * Milliseconds to wait before the next start at `perSec` a second; 0 = go now (unpaced, or the start
   * is booked). The caller sleeps and asks again: what it waits for may have changed meanwhile.
   */
  reserve(perSec: number | undefined): number {
    if (!perSec) return 0;
    const now = this.now();
    const wait = this.nextAt - now;
    if (wait > 0) return wait;
    this.nextAt = now + 1000 / perSec;
    return 0;
  }
}

/** The failure of reading the source that pauses the batch (SOURCE_PAUSE_TYPES), if `err` is one. */
export function sourcePauseOf(err: unknown): (ApplicationFailure & { readonly type: string }) | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || !SOURCE_PAUSE_TYPES.includes(cause.type ?? ''))
    return undefined;
  return cause as ApplicationFailure & { readonly type: string };
}

/** The outcome of an item an operator cancelled before it started: skipped, never run. */
export function operatorSkipped(item: { index: number; key: string }): ItemOutcome {
  return unranOutcome(
    item,
    'skipped',
    FailureType.CancelledBeforeStart,
    'cancelled by an operator before it started',
  );
}

/**
 * Child starts in flight. A start runs non-cancellable: one that was issued completes, so a
 * cancellation never leaves a child half-started (the ending path cancels every started child by id).
 */
export class StartTracker {
  private readonly starting = new Set<Promise<void>>();

  /**
   * Runs `start`, then `onStarted` or `onFailed`; tracked until those have run, so `allStarted` also
   * waits for what they record.
   */
  track<T>(
    start: () => Promise<T>,
    onStarted: (started: T) => void,
    /** May record asynchronously (a page reads its items to fail them): awaited like the start. */
    onFailed: (err: unknown) => void | Promise<void>,
  ): void {
    const p = CancellationScope.nonCancellable(start).then(onStarted, onFailed);
    this.starting.add(p);
    void p.finally(() => this.starting.delete(p));
  }

  /** Resolves once every start tracked so far has completed and been handled. */
  async allStarted(): Promise<void> {
    await Promise.all([...this.starting]);
  }
}

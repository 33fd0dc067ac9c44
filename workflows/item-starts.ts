// Starting items, as every workflow that starts them does it (the batch starting item or page
// children, a page starting its items): when the next start may go (pacing), when reading the source
// must pause the batch instead, what an item an operator cancelled before it started records, and
// that a start once issued completes. None of it holds state of a particular workflow.
import { ActivityFailure, ApplicationFailure, CancellationScope } from '@temporalio/workflow';
import { SOURCE_PAUSE_TYPES } from './failure-types';
import { operatorSkipped } from './outcomes';

// It lives with the other unran outcomes (the runner activity builds it too); kept here for callers.
export { operatorSkipped };
export { Pacer } from './pacer';

/** The failure of reading the source that pauses the batch (SOURCE_PAUSE_TYPES), if `err` is one. */
export function sourcePauseOf(err: unknown): (ApplicationFailure & { readonly type: string }) | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || !SOURCE_PAUSE_TYPES.includes(cause.type ?? ''))
    return undefined;
  return cause as ApplicationFailure & { readonly type: string };
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

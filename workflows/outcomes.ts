// The outcome of an item that did not run to an outcome of its own: skipped, cancelled before it
// started, a child that could not start or closed without reporting. One builder, so every such
// record has the same shape (no attempts, no latency).
import { workflowNowIso } from './clock';
import { messageExcerpt } from './excerpt';
import { FailureType } from './failure-types';
import type { ItemOutcome } from './types';

/** Longest message kept: an invalid row's reason can list many problems (staging caps it at 2,000). */
const MAX_MESSAGE = 2_000;

export function unranOutcome(
  item: { index: number; key: string },
  status: ItemOutcome['status'],
  errorType: string,
  errorMessage: string,
  /** When its slot was taken (an item in flight); default now. */
  startedAt?: string,
): ItemOutcome {
  const now = workflowNowIso();
  return {
    index: item.index,
    key: item.key,
    status,
    attempts: 0,
    latencyMs: 0,
    startedAt: startedAt ?? now,
    endedAt: now,
    errorType,
    // Reports show it in one cell: an invalid row's reason quotes its values, line breaks included.
    errorMessage: messageExcerpt(errorMessage, MAX_MESSAGE),
  };
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

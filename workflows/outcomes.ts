// The outcome of an item that did not run to an outcome of its own: skipped, cancelled before it
// started, a child that could not start or closed without reporting. One builder, so every such
// record has the same shape (no attempts, no latency).
import { workflowNowIso } from './clock';
import type { ItemOutcome } from './types';

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
    errorMessage,
  };
}

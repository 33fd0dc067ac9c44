// The `item` and `progress` events' data, from the two sources of a batch's stream: a journal entry
// (started, retrying, progress) or a recorded outcome (the terminal transitions).
import { FailureType } from '../../../workflows/failure-types';
import type { BatchProgress, ItemOutcome } from '../../../workflows/types';
import type { JournalEntry } from '../../output-dir/item-journal';

export interface ItemEvent {
  key: string;
  index?: number;
  state: 'started' | 'retrying' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';
  attempt?: number;
  error?: string;
  errorType?: string;
  latencyMs?: number;
  /** The pipeline step an attempt belongs to (pipelines only). */
  step?: string;
  at: string;
}

export interface ProgressEvent {
  key: string;
  index: number;
  percent: number;
  at: string;
}

export function outcomeEvent(o: ItemOutcome): ItemEvent {
  return {
    key: o.key,
    index: o.index,
    state: o.status,
    attempt: o.attempts,
    ...(o.errorMessage !== undefined ? { error: o.errorMessage } : {}),
    ...(o.errorType !== undefined ? { errorType: o.errorType } : {}),
    latencyMs: o.latencyMs,
    at: o.endedAt,
  };
}

/** An item of a closed batch that never started: cancelled, as the batch's report records it. */
export function neverStartedEvent(index: number, key: string, final: BatchProgress): ItemEvent {
  return {
    key,
    index,
    state: 'cancelled',
    attempt: 0,
    error: `batch ended ${final.status} before this item started`,
    errorType: FailureType.NotStarted,
    at: final.endedAt ?? final.startedAt,
  };
}

/** Errors of failed attempts by item, for the `retrying` that follows: bounded, oldest dropped. */
export class AttemptErrors {
  private readonly byKey = new Map<string, { error: string; errorType: string }>();
  constructor(private readonly max = 10_000) {}

  note(e: JournalEntry): void {
    if (e.state !== 'attempt-failed') return;
    this.byKey.delete(e.key);
    this.byKey.set(e.key, { error: e.error, errorType: e.errorType });
    if (this.byKey.size > this.max) this.byKey.delete(this.byKey.keys().next().value!);
  }

  take(key: string): { error: string; errorType: string } | undefined {
    const got = this.byKey.get(key);
    this.byKey.delete(key);
    return got;
  }
}

/** The event a journal entry makes, if any (a failed attempt only feeds the next `retrying`). */
export function journalEvent(
  e: JournalEntry,
  errors: AttemptErrors,
): { type: 'item'; data: ItemEvent } | { type: 'progress'; data: ProgressEvent } | undefined {
  const step = e.step !== undefined ? { step: e.step } : {};
  switch (e.state) {
    case 'attempt-failed':
      errors.note(e);
      return undefined;
    case 'progress':
      return { type: 'progress', data: { key: e.key, index: e.index, percent: e.percent, at: e.at } };
    case 'started':
      return {
        type: 'item',
        data: { key: e.key, index: e.index, state: 'started', attempt: 1, ...step, at: e.at },
      };
    case 'retrying': {
      const last = errors.take(e.key);
      return {
        type: 'item',
        data: {
          key: e.key,
          index: e.index,
          state: 'retrying',
          attempt: e.attempt,
          ...last,
          ...step,
          at: e.at,
        },
      };
    }
  }
}

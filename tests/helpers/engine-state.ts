// Building the parent's state (workflows/batch-state.ts) by hand for the unit tests: the same
// outcomes and in-flight records the batch workflow produces, without a server or a workflow.
import { BatchState, type InFlightPage } from '../../workflows/batch-state';
import type { BatchProgress, ItemOutcome, ItemStatus, Limits } from '../../workflows/types';

/** The key of the item at 0-based index `i`: `K0001`… as in the engine tests (tests/helpers/engine.ts,
 * not imported: it loads the HTTP target and the Temporal client). */
export function key(i: number): string {
  return `K${String(i + 1).padStart(4, '0')}`;
}

export const BATCH_ID = 'b';
export const LIMITS: Limits = { concurrency: 3 };
export const STARTED_AT = '2024-05-01T10:00:00.000Z';
export const ENDED_AT = '2024-05-01T10:00:01.000Z';

/** A fresh parent state of `total` items whose run started at `startedAt`. */
export function newState(total: number, opts: { limits?: Limits; startedAt?: string } = {}): BatchState {
  const limits = opts.limits ?? LIMITS;
  const carried = { ...new BatchState(BATCH_ID, total, limits).toCarried(), runNumber: 0 };
  return new BatchState(BATCH_ID, total, limits, { ...carried, startedAt: opts.startedAt ?? STARTED_AT });
}

/** The terminal outcome of the item at 0-based index `i`, 100 ms long. */
export function outcome(i: number, status: ItemStatus = 'succeeded', extra: Partial<ItemOutcome> = {}) {
  const o: ItemOutcome = {
    index: i,
    key: key(i),
    status,
    attempts: status === 'skipped' ? 0 : 1,
    latencyMs: 100,
    startedAt: STARTED_AT,
    endedAt: ENDED_AT,
    ...extra,
  };
  return o;
}

/** Starts items `from`..`to` (inclusive) the way the parent does: in flight, cursor past them. */
export function startItems(state: BatchState, from: number, to: number, expectedCost?: number): void {
  for (let i = from; i <= to; i++) {
    state.inFlight.set(key(i), {
      key: key(i),
      index: i,
      childId: `${BATCH_ID}/${key(i)}`,
      startedAt: STARTED_AT,
      expectedCost,
    });
  }
  state.cursor = Math.max(state.cursor, to + 1);
}

/** Starts a page child of `count` items from `first` holding `slots` slots, as PageChildren does. */
export function startPage(
  state: BatchState,
  first: number,
  count: number,
  slots: number,
  extra: Partial<InFlightPage> = {},
): InFlightPage {
  const page: InFlightPage = {
    childId: `${BATCH_ID}/page-${first}`,
    first,
    count,
    slots,
    unfinished: count,
    done: '0'.repeat(count),
    startedAt: STARTED_AT,
    sent: { slots, paused: false },
    ...extra,
  };
  state.pages.set(page.childId, page);
  state.cursor = Math.max(state.cursor, first + count);
  return page;
}

/** Every count of a progress object: they must add up to its total. */
export function countsOf(
  p: Pick<BatchProgress, 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'running' | 'pending'>,
) {
  const { succeeded, failed, skipped, cancelled, running, pending } = p;
  return { succeeded, failed, skipped, cancelled, running, pending };
}

// The parent's state (workflows/batch-state.ts) and its lanes (workflows/lanes/) for the unit tests,
// without a server or a workflow. State changes only through BatchState's verbs, and lanes are built
// from carried in-flight records, the path a continued run takes: the helpers use the same verbs as
// the engine instead of copying its booking.
import { BatchState } from '../../workflows/batch-state';
import type { BatchInput } from '../../workflows/batch-input';
import type { InFlightItem } from '../../workflows/carried-state';
import type { ItemRunSpec } from '../../workflows/item-run';
import { ItemLane } from '../../workflows/lanes/item-lane';
import { PageLane } from '../../workflows/lanes/page-lane';
import type { InFlightPage } from '../../workflows/carried-state';
import { PATCHES, type PatchName } from '../../workflows/patches';
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
  const carried = { ...new BatchState(BATCH_ID, total, limits).toCarried(), inFlight: [], runNumber: 0 };
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

/** What a lane reads of the batch's input: the staged source is never read by these tests. */
export const LANE_INPUT: Pick<BatchInput, 'batchId' | 'source'> = {
  batchId: BATCH_ID,
  source: { dir: '/staged/b', fingerprint: 'sha256:0', originalPath: '/in/items.csv', total: 0 },
};

/** What every item runs with: never started by these tests. */
export const SPEC: ItemRunSpec = {
  batchId: BATCH_ID,
  steps: [],
  retry: { maxAttempts: 1, initialIntervalMs: 1000, maxIntervalMs: 1000, backoffCoefficient: 2 },
  outputDir: '/out',
};

/** Every patch on, as in a batch started by this release (`patched()` works only in a workflow). */
export const NEW_RUN = Object.fromEntries(Object.keys(PATCHES).map((name) => [name, true])) as Record<
  PatchName,
  boolean
>;

/** The in-flight records of items `from`..`to` (inclusive), as the item lane carries them. */
export function inFlightItems(from: number, to: number, expectedCost?: number): InFlightItem[] {
  const items: InFlightItem[] = [];
  for (let i = from; i <= to; i++) {
    items.push({
      key: key(i),
      index: i,
      childId: `${BATCH_ID}/${key(i)}`,
      startedAt: STARTED_AT,
      expectedCost,
    });
  }
  return items;
}

/** An item lane holding `items` in flight (built as a continued run builds it), the cursor past them. */
export function itemLaneOf(state: BatchState, items: InFlightItem[]): ItemLane {
  for (const f of items) state.advanceTo(f.index + 1);
  return new ItemLane(state, LANE_INPUT, SPEC, items, () => undefined, NEW_RUN);
}

/** An item lane with items `from`..`to` (inclusive) in flight, each expected to cost `expectedCost`. */
export function itemLaneWith(state: BatchState, from: number, to: number, expectedCost?: number): ItemLane {
  return itemLaneOf(state, inFlightItems(from, to, expectedCost));
}

/** The record of a page child of `count` items from `first` holding `slots` slots, as the page lane
 * carries it: nothing reported yet, told exactly its slots. */
export function inFlightPage(
  first: number,
  count: number,
  slots: number,
  extra: Partial<InFlightPage> = {},
): InFlightPage {
  return {
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
}

/**
 * A page lane of `itemsPerChild`-item pages holding `pages` in flight (built as a continued run
 * builds it), the cursor past them. The lane keeps the records themselves: a test reads a page's
 * bookkeeping from the record it passed. `patches`: the run's patch decisions (default: a new run).
 */
export function pageLaneWith(
  state: BatchState,
  pages: InFlightPage[],
  opts: { itemsPerChild?: number; patches?: Partial<Record<PatchName, boolean>> } = {},
): PageLane {
  for (const p of pages) state.advanceTo(p.first + p.count);
  const itemsPerChild = opts.itemsPerChild ?? Math.max(2, ...pages.map((p) => p.count));
  return new PageLane(state, LANE_INPUT, SPEC, itemsPerChild, pages, { ...NEW_RUN, ...opts.patches });
}

/** Every count of a progress object: they must add up to its total. */
export function countsOf(
  p: Pick<BatchProgress, 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'running' | 'pending'>,
) {
  const { succeeded, failed, skipped, cancelled, running, pending } = p;
  return { succeeded, failed, skipped, cancelled, running, pending };
}

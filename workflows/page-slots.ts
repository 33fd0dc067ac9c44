// The parent's record of a page child in flight (page mode): its range of items, the slots it holds,
// what it has reported, and its budget allowance, with how the parent grants allowances.

import type { PageControl } from './messages';

/** A page child in flight (page mode): `count` consecutive items from `first`. */
export interface InFlightPage {
  childId: string;
  first: number;
  count: number;
  /** Items of this page that may run at once: the page's share of the batch's concurrency. */
  slots: number;
  /** Items the page last said were still running or not started. */
  unfinished: number;
  /** One character per item, '1' once its outcome is recorded here (or it was skipped before). */
  done: string;
  startedAt: string;
  /** The token the page was started with: its reports must carry it (absent: started before tokens). */
  token?: string;
  /** The control last sent to the page. */
  sent: Omit<PageControl, 'avgCost'>;
  /** With a budget: the cost the page may commit in all, what its recorded items cost, what it has
   * committed beyond those (running items, outcomes not reported yet), and what it waits for. */
  allowance?: number;
  spent?: number;
  pendingCost?: number;
  need?: { cost: number; key: string };
  /** Allowance being taken back: the number sent, and the allowance the page may use until it acks. */
  reclaim?: { seq: number; held: number };
  /** Reclaims sent to this page so far (numbers them). */
  reclaimed?: number;
  /** Its need waits for other pages' reports (allowance they hold may come free): not news until one comes. */
  needWaits?: boolean;
  /** Items the page said were running at its last report, and whether it said it was paused. */
  running?: number;
  paused?: boolean;
}

/** What a page committed at its last report: cost of its recorded items, then running or unreported. */
export function pageCommitted(p: InFlightPage): number {
  return (p.spent ?? 0) + (p.pendingCost ?? 0);
}

/** Allowance a page may still commit: until it acknowledges a reclaim, the allowance it had. */
export function pageUnusedAllowance(p: InFlightPage): number {
  return Math.max(0, Math.max(p.allowance ?? 0, p.reclaim?.held ?? 0) - pageCommitted(p));
}

/** Items of a page whose outcome is not recorded yet. */
export function pageUnreported(p: InFlightPage): number {
  let n = 0;
  for (const c of p.done) if (c !== '1') n += 1;
  return n;
}

/** What the grant round reads and changes: the pages in flight and the batch's budget facts. */
export interface AllowanceBook {
  pages: ReadonlyMap<string, InFlightPage>;
  readonly paused: boolean;
  concurrency: number;
  /** Committed cost plus the allowances pages have not committed yet. */
  reservedCost(): number;
  /** Pauses the batch before `need` (no allowance can cover it). */
  pauseForBudget(budget: number, need: { key: string; cost: number }): void;
}

/**
 * Budget: a page commits cost only within its allowance. A page whose next item does not fit asks
 * (`need`); it gets at least that item's cost out of what the budget has left, with its share of
 * the rest. When the budget has not enough left but other pages hold allowance they have not
 * committed, that allowance is taken back first (each page acknowledges with a fresh report, so
 * nothing it committed meanwhile is given away twice). Only when even that cannot cover the item
 * does the batch pause before it, as in per-item mode, saying so. `reclaim`: whether allowance may
 * be taken back (runs from before that replay without).
 */
export function grantAllowances(state: AllowanceBook, budget: number, reclaim = false): void {
  for (const p of state.pages.values()) {
    // A page with no slot (started ahead) cannot start its next item yet: its need waits. So does
    // the need of a page whose allowance is being taken back, until its report says what it holds.
    if (!p.need || state.paused || p.slots === 0 || p.reclaim) continue;
    const committed = pageCommitted(p);
    const required = committed + p.need.cost;
    p.needWaits = undefined;
    if ((p.allowance ?? 0) >= required - 1e-9) {
      p.need = undefined; // already covered by a grant the page had not seen when it asked
      continue;
    }
    const held = Math.max(p.allowance ?? 0, committed);
    const headroom = budget - state.reservedCost();
    const extra = required - held;
    if (extra > headroom + 1e-9) {
      if (reclaim && reclaimFor(state, p, extra - headroom)) {
        p.needWaits = true; // for other pages' reports: any report wakes the batch again
        continue;
      }
      state.pauseForBudget(budget, p.need);
      return;
    }
    const share = (headroom * Math.max(p.slots, 1)) / state.concurrency;
    p.allowance = held + Math.min(headroom, Math.max(extra, share));
    p.need = undefined;
  }
}

/**
 * Whether `missing` more can come from allowance other pages hold but have not committed. A page that
 * can still start items will commit its allowance or, once it has nothing left to start, give it
 * back: its next report decides. A page itself waiting for budget cannot use what it holds: that is
 * taken back (the page acknowledges with a fresh report, so nothing it committed meanwhile is given
 * away twice). True: wait for those reports. False: the budget cannot cover `missing`.
 */
function reclaimFor(state: AllowanceBook, page: InFlightPage, missing: number): boolean {
  let available = 0;
  for (const q of state.pages.values()) if (q !== page) available += pageUnusedAllowance(q);
  if (available < missing - 1e-9) return false;
  for (const q of state.pages.values()) {
    if (q === page || q.reclaim || q.need === undefined || pageUnusedAllowance(q) <= 1e-9) continue;
    q.reclaim = { seq: (q.reclaimed ?? 0) + 1, held: q.allowance ?? 0 };
    q.reclaimed = q.reclaim.seq;
    q.allowance = pageCommitted(q);
  }
  return true;
}

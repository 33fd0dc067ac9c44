// The parent's record of a page child in flight (page mode): its range of items, the slots it holds,
// what it has reported, and its budget allowance.

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
  /** The control last sent to the page. */
  sent: { slots: number; paused: boolean; ratePerSec?: number; costAllowance?: number };
  /** With a budget: the cost the page may commit in all, what its recorded items cost, what it has
   * committed beyond those (running items, outcomes not reported yet), and what it waits for. */
  allowance?: number;
  spent?: number;
  pendingCost?: number;
  need?: { cost: number; key: string };
  /** Items the page said were running at its last report, and whether it said it was paused. */
  running?: number;
  paused?: boolean;
}

/** Items of a page whose outcome is not recorded yet. */
export function pageUnreported(p: InFlightPage): number {
  let n = 0;
  for (const c of p.done) if (c !== '1') n += 1;
  return n;
}

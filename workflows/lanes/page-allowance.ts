// The budget allowance of one page child (page mode with a budget): the cost the parent lets the page
// commit, as one typed state with one pure function per transition. The parent grants each page a
// share of what the budget has left, grants more when a page's next item does not fit, takes back
// allowance a page cannot use, and pauses the batch when even that cannot cover the item. The page's
// own side is workflows/page-budget.ts.
//
// Carried state is fixed: every run, old or new, carries a page's allowance as the optional fields of
// `AllowanceFields` on its InFlightPage. `allowanceOf` and `allowanceFields` convert exactly.
import type { PageControl } from '../messages';

/**
 * Costs are sums of decimal fractions (0.1 + 0.2 ≠ 0.3): an item that fills an allowance exactly must
 * fit, so comparisons of costs allow this much rounding error.
 */
export const COST_EPSILON = 1e-9;

/** What a page waits for: the expected cost of its next item, which its allowance does not cover. */
export interface PageNeed {
  cost: number;
  key: string;
}

/** A page's allowance exactly as carried on its InFlightPage (workflows/carried-state.ts): fixed names. */
export interface AllowanceFields {
  /** The cost the page may commit in all (absent: it started without a budget and was granted none). */
  allowance?: number;
  need?: PageNeed;
  /** Allowance being taken back: the number sent, and the allowance the page may use until it acks. */
  reclaim?: { seq: number; held: number };
  /** Reclaims sent to this page so far (numbers them). */
  reclaimed?: number;
  /** Its need waits for other pages' reports (allowance they hold may come free): not news until one comes. */
  needWaits?: boolean;
}

/**
 * What a page committed at its last report, as carried on its InFlightPage: the cost of its recorded
 * items (kept with or without a budget), and beyond those what it has running or not reported yet.
 */
export interface PageCommitted {
  spent?: number;
  pendingCost?: number;
}

/**
 * One page's allowance. `reclaims`: allowance taken back from it so far (numbers the next reclaim).
 * `waitsForReports`: its need is not news until another page reports (allowance they hold may come
 * free). Invariants of every run (the round trip through the fields is exact under them): a reclaim
 * sets `reclaimed` to its number and the allowance, and only a page with a need waits for reports.
 */
export type PageAllowance =
  /** Started without a budget and granted nothing since: its items are not counted against one. */
  | { kind: 'unbudgeted' }
  /** It may commit `allowance` in all, and has not said its next item does not fit. */
  | { kind: 'granted'; allowance: number; reclaims: number }
  /**
   * Its next item does not fit: it starts nothing until granted `need`. `allowance` is absent for a
   * page started without a budget before one was set.
   */
  | {
      kind: 'waiting';
      allowance: number | undefined;
      need: PageNeed;
      waitsForReports: boolean;
      reclaims: number;
    }
  /**
   * Its uncommitted allowance is being taken back for another page: `allowance` is what it had
   * committed then, `held` the allowance it may use until it acknowledges reclaim `seq` with a
   * report. Its need, if still reported, waits until then.
   */
  | {
      kind: 'reclaiming';
      allowance: number;
      seq: number;
      held: number;
      need: PageNeed | undefined;
      waitsForReports: boolean;
    };

/** A page as the grant round sees it: its allowance, what it committed, and the slots it holds. */
export interface PageStanding {
  allowance: PageAllowance;
  committed: PageCommitted;
  slots: number;
}

/** The batch's side of the budget, as plain data. */
export interface BudgetLedger {
  budget: number;
  concurrency: number;
  /**
   * Cost committed that no page's `pendingCost` holds: recorded outcomes' cost (page items'
   * included) plus the expected cost of item children in flight, summed in that order (as
   * BatchState.committedCost begins, so sums are bit-for-bit the same).
   */
  committedOutsidePages: number;
}

/** The allowance from carried fields. */
export function allowanceOf(f: AllowanceFields): PageAllowance {
  const reclaims = f.reclaimed ?? 0;
  const waitsForReports = f.needWaits === true;
  if (f.reclaim) {
    const { seq, held } = f.reclaim;
    return {
      kind: 'reclaiming',
      allowance: f.allowance ?? 0,
      seq,
      held,
      need: copy(f.need),
      waitsForReports,
    };
  }
  if (f.need) {
    return { kind: 'waiting', allowance: f.allowance, need: copy(f.need), waitsForReports, reclaims };
  }
  if (f.allowance !== undefined) return { kind: 'granted', allowance: f.allowance, reclaims };
  return { kind: 'unbudgeted' };
}

/** The fields to carry for an allowance: only those that are set (as JSON would carry them). */
export function allowanceFields(a: PageAllowance): AllowanceFields {
  switch (a.kind) {
    case 'unbudgeted':
      return {};
    case 'granted':
      return { allowance: a.allowance, ...reclaimedField(a.reclaims) };
    case 'waiting':
      return {
        ...(a.allowance !== undefined ? { allowance: a.allowance } : {}),
        need: copy(a.need),
        ...reclaimedField(a.reclaims),
        ...(a.waitsForReports ? { needWaits: true } : {}),
      };
    case 'reclaiming':
      return {
        allowance: a.allowance,
        ...(a.need ? { need: copy(a.need) } : {}),
        reclaim: { seq: a.seq, held: a.held },
        reclaimed: a.seq,
        ...(a.waitsForReports ? { needWaits: true } : {}),
      };
  }
}

/** Writes `a` onto a page's carried record in place: its fields replaced, those `a` does not set removed. */
export function setAllowance(page: AllowanceFields, a: PageAllowance): void {
  for (const field of ['allowance', 'need', 'reclaim', 'reclaimed', 'needWaits'] as const) delete page[field];
  Object.assign(page, allowanceFields(a));
}

/** The initial grant of a page being started: its slots' share of what the budget has left. */
export function initialGrant(
  ledger: BudgetLedger | undefined,
  pages: readonly Omit<PageStanding, 'slots'>[],
  slots: number,
): PageAllowance {
  if (ledger === undefined) return { kind: 'unbudgeted' };
  // The page asks for more when its next item does not fit.
  const headroom = Math.max(0, ledger.budget - reservedCost(ledger.committedOutsidePages, pages));
  return { kind: 'granted', allowance: (headroom * slots) / ledger.concurrency, reclaims: 0 };
}

/** What a page's report says, as far as its allowance goes. */
export interface AllowanceReport {
  /** The costs of the outcomes this report records for the first time, in order (undefined: none known). */
  recordedCosts: readonly (number | undefined)[];
  /** Items the page says are still running or not started. */
  unfinished: number;
  /** Its cost part (a page sent an allowance reports one): committed so far, and what it needs. */
  cost?: { spent: number; inflight: number; need?: number; needKey?: string };
  /** Items it says are running. */
  running?: number;
  /** The last reclaim it has applied. */
  ack?: number;
}

/**
 * A page's report applied: its recorded outcomes' cost is spent, its reported cost replaces what it
 * committed beyond those and what it needs, an acknowledged reclaim ends, and a page with nothing
 * left to start gives back what it was allowed beyond its committed cost (for the pages that still
 * have items to start). Its need, restated, is news again.
 */
export function pageReported(
  a: PageAllowance,
  committed: PageCommitted,
  report: AllowanceReport,
): { allowance: PageAllowance; committed: PageCommitted } {
  let spent = committed.spent;
  for (const c of report.recordedCosts) spent = (spent ?? 0) + (c ?? 0);
  let pendingCost = committed.pendingCost;
  let need = needOf(a);
  if (report.cost) {
    const { cost } = report;
    pendingCost = Math.max(0, cost.spent - (spent ?? 0)) + cost.inflight;
    need = cost.need !== undefined ? { cost: cost.need, key: cost.needKey ?? '?' } : undefined;
  }
  const now: PageCommitted = {
    ...(spent !== undefined ? { spent } : {}),
    ...(pendingCost !== undefined ? { pendingCost } : {}),
  };
  // A page with nothing left to start cannot commit more: what it was allowed beyond its committed
  // cost goes back to the budget.
  const ended = report.running !== undefined && report.unfinished <= report.running;
  const kept = (allowance: number) => (ended ? Math.min(allowance, pageCommitted(now)) : allowance);
  switch (a.kind) {
    case 'unbudgeted':
      return { allowance: settled(undefined, need, 0), committed: now };
    case 'reclaiming':
      // Acknowledged: the page applied the reclaim, so its cost above is all it committed.
      if (report.ack !== undefined && report.ack >= a.seq) {
        return { allowance: settled(kept(a.allowance), need, a.seq), committed: now };
      }
      return {
        allowance: { ...a, allowance: kept(a.allowance), need, waitsForReports: false },
        committed: now,
      };
    default: {
      const allowance = a.allowance === undefined ? undefined : kept(a.allowance);
      return { allowance: settled(allowance, need, a.reclaims), committed: now };
    }
  }
}

/** Another page reported: allowance it held may have come free, so a need that waited for it is news. */
export function anotherPageReported(a: PageAllowance): PageAllowance {
  return (a.kind === 'waiting' || a.kind === 'reclaiming') && a.waitsForReports
    ? { ...a, waitsForReports: false }
    : a;
}

/** The outcome of a grant round: every page's allowance (in the order given), and a budget pause. */
export interface GrantRound {
  allowances: PageAllowance[];
  /** The batch must pause for the budget before this item (it starts first on resume). */
  pause?: PageNeed;
}

/**
 * Grants pages whose next item does not fit, in order: at least that item's cost out of what the
 * budget has left, with the page's share of the rest. When the budget has not enough left but other
 * pages hold allowance they have not committed, that is taken back first (each page acknowledges
 * with a fresh report, so nothing it committed meanwhile is given away twice). Only when even that
 * cannot cover the item does the batch pause before it, as in per-item mode, and the round stops.
 * `mayReclaim`: whether allowance may be taken back (runs from before that replay without).
 */
export function grantRound(
  ledger: BudgetLedger & { paused: boolean; mayReclaim: boolean },
  pages: readonly PageStanding[],
): GrantRound {
  const allowances = pages.map((p) => p.allowance);
  if (ledger.paused) return { allowances };
  const standings = () => pages.map((p, i) => ({ ...p, allowance: allowances[i] ?? p.allowance }));
  for (const [i, p] of pages.entries()) {
    const a = allowances[i] ?? p.allowance;
    // A page with no slot (started ahead) cannot start its next item yet: its need waits. So does the
    // need of a page whose allowance is being taken back, until its report says what it holds.
    if (a.kind !== 'waiting' || p.slots === 0) continue;
    const committed = pageCommitted(p.committed);
    const required = committed + a.need.cost;
    if ((a.allowance ?? 0) >= required - COST_EPSILON) {
      // Already covered by a grant the page had not seen when it asked.
      allowances[i] = settled(a.allowance, undefined, a.reclaims);
      continue;
    }
    const held = Math.max(a.allowance ?? 0, committed);
    const headroom = ledger.budget - reservedCost(ledger.committedOutsidePages, standings());
    const extra = required - held;
    if (extra > headroom + COST_EPSILON) {
      const reclaimed = ledger.mayReclaim ? reclaimFor(standings(), i, extra - headroom) : undefined;
      if (reclaimed) {
        for (const [j, r] of reclaimed.entries()) allowances[j] = r;
        allowances[i] = { ...a, waitsForReports: true }; // any report wakes the batch again
        continue;
      }
      allowances[i] = { ...a, waitsForReports: false };
      return { allowances, pause: a.need };
    }
    const share = (headroom * Math.max(p.slots, 1)) / ledger.concurrency;
    allowances[i] = {
      kind: 'granted',
      allowance: held + Math.min(headroom, Math.max(extra, share)),
      reclaims: a.reclaims,
    };
  }
  return { allowances };
}

/**
 * Takes back, for page `taker`, allowance that pages themselves waiting for budget hold but cannot
 * use, if `missing` can come from what other pages hold uncommitted: a page that can still start
 * items will commit its allowance or, once it has nothing left to start, give it back; its next
 * report decides. Returns every page's allowance, or undefined when the budget cannot cover `missing`.
 */
function reclaimFor(
  pages: readonly PageStanding[],
  taker: number,
  missing: number,
): PageAllowance[] | undefined {
  let available = 0;
  for (const [j, q] of pages.entries())
    if (j !== taker) available += unusedAllowance(q.allowance, q.committed);
  if (available < missing - COST_EPSILON) return undefined;
  return pages.map((q, j) => {
    const a = q.allowance;
    if (j === taker || a.kind !== 'waiting' || unusedAllowance(a, q.committed) <= COST_EPSILON) return a;
    return {
      kind: 'reclaiming',
      allowance: pageCommitted(q.committed),
      seq: a.reclaims + 1,
      held: a.allowance ?? 0,
      need: a.need,
      waitsForReports: a.waitsForReports,
    };
  });
}

/**
 * The allowance part of the control to send the page: what it may commit and the reclaim to
 * acknowledge. `avgCost`: the batch's average cost per item, undefined when it has no budget (the
 * page then commits without an allowance).
 */
export function allowanceControl(
  a: PageAllowance,
  avgCost: number | undefined,
): Pick<PageControl, 'costAllowance' | 'avgCost' | 'reclaim'> {
  return {
    ...(avgCost !== undefined
      ? { costAllowance: a.kind === 'unbudgeted' ? 0 : (a.allowance ?? 0), avgCost }
      : {}),
    ...(a.kind === 'reclaiming' ? { reclaim: a.seq } : {}),
  };
}

/** Whether the allowance part of the control `want` must be sent to a page that was last sent `sent`. */
export function allowanceControlIsNews(
  want: Pick<PageControl, 'costAllowance' | 'reclaim'>,
  sent: Pick<PageControl, 'costAllowance' | 'reclaim'>,
): boolean {
  return (
    // Only a larger allowance is news: a smaller one is taken back from a page that cannot use it.
    (want.costAllowance ?? 0) > (sent.costAllowance ?? 0) ||
    (want.costAllowance === undefined) !== (sent.costAllowance === undefined) ||
    (want.reclaim !== undefined && want.reclaim !== sent.reclaim)
  );
}

/**
 * Whether a grant round could do something for this page now: it waits for budget, not for other
 * pages' reports nor for a reclaim's acknowledgement, and holds a slot to start its next item.
 */
export function needIsNews(a: PageAllowance, slots: number): boolean {
  return a.kind === 'waiting' && !a.waitsForReports && slots > 0;
}

/** The item a page waits to start, its allowance not covering it (it starts no more until then). */
export function needOf(a: PageAllowance): PageNeed | undefined {
  return a.kind === 'waiting' || a.kind === 'reclaiming' ? a.need : undefined;
}

/** What a page committed at its last report: cost of its recorded items, then running or unreported. */
export function pageCommitted(c: PageCommitted): number {
  return (c.spent ?? 0) + (c.pendingCost ?? 0);
}

/** Allowance a page may still commit: until it acknowledges a reclaim, the allowance it had. */
export function unusedAllowance(a: PageAllowance, committed: PageCommitted): number {
  const allowance = a.kind === 'unbudgeted' ? 0 : (a.allowance ?? 0);
  const held = a.kind === 'reclaiming' ? a.held : 0;
  return Math.max(0, Math.max(allowance, held) - pageCommitted(committed));
}

/** Spent cost plus what items in flight are expected to cost and what pages committed beyond it. */
export function committedCost(
  committedOutsidePages: number,
  pages: readonly { committed: PageCommitted }[],
): number {
  let c = committedOutsidePages;
  for (const p of pages) c += p.committed.pendingCost ?? 0;
  return c;
}

/** Committed cost plus what pages may still commit within their allowances: never above the budget. */
export function reservedCost(
  committedOutsidePages: number,
  pages: readonly Omit<PageStanding, 'slots'>[],
): number {
  let c = committedCost(committedOutsidePages, pages);
  for (const p of pages) c += unusedAllowance(p.allowance, p.committed);
  return c;
}

/** The allowance of a page that is not being reclaimed from, by what it has and what it waits for. */
function settled(allowance: number | undefined, need: PageNeed | undefined, reclaims: number): PageAllowance {
  if (need) return { kind: 'waiting', allowance, need, waitsForReports: false, reclaims };
  if (allowance !== undefined) return { kind: 'granted', allowance, reclaims };
  return { kind: 'unbudgeted' };
}

function reclaimedField(reclaims: number): { reclaimed?: number } {
  return reclaims > 0 ? { reclaimed: reclaims } : {};
}

function copy<T extends PageNeed | undefined>(need: T): T {
  return (need ? { cost: need.cost, key: need.key } : undefined) as T;
}

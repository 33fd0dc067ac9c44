// Frozen from e838b02 (workflows/page-slots.ts, workflows/batch-state.ts, workflows/stats.ts): how the
// engine of that release granted pages their budget allowance and took their reports. It is the
// reference tests/unit/page-allowance.test.ts holds the typed allowance (workflows/lanes/
// page-allowance.ts) to, field for field, now that the engine code it was copied from is gone.
//
// Never change it, not even to follow the engine: it is the behaviour running batches were started
// with, and a batch started by that release must replay on the new code. The logic is the old code
// line for line (its comments included); only the types around it are new: a small plain batch
// (OldBatch) holding just what the allowance reads and writes, in place of BatchState.

/** An outcome, as far as the allowance reads it (structurally an ItemOutcome). */
export interface OldOutcome {
  index: number;
  key: string;
  cost?: number;
}

/**
 * A page child in flight (page mode): `count` consecutive items from `first`. InFlightPage of
 * e838b02, without the fields the allowance never reads (startedAt, token, sent).
 */
export interface OldPage {
  childId: string;
  first: number;
  count: number;
  /** Items of this page that may run at once: the page's share of the batch's concurrency. */
  slots: number;
  /** Items the page last said were still running or not started. */
  unfinished: number;
  /** One character per item, '1' once its outcome is recorded here (or it was skipped before). */
  done: string;
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

/** The parent's state as far as the allowance goes: BatchState of e838b02, cut down. */
export class OldBatch {
  /** Items in flight as item children (key → record): only their expected cost counts here. */
  readonly inFlight = new Map<string, { expectedCost?: number }>();
  readonly stats = { cost: 0 };
  readonly blocked: Record<string, string> = {};
  readonly pages = new Map<string, OldPage>();
  paused = false;

  constructor(public limits: { concurrency: number; budget?: number }) {}

  /**
   * Pauses before the item that would overspend the budget (it starts first on resume). The old
   * one also wrote the pause's reason and an audit entry, which no allowance reads.
   */
  pauseForBudget(_budget: number, _next: { key: string; cost: number }): void {
    this.paused = true;
  }

  /** Spent cost plus what items in flight are expected to cost (pages: what they committed). */
  get committedCost(): number {
    let c = this.stats.cost;
    for (const f of this.inFlight.values()) c += f.expectedCost ?? 0;
    for (const p of this.pages.values()) c += p.pendingCost ?? 0;
    return c;
  }

  /** Committed cost plus what pages may still commit within their allowances: never above the budget. */
  get reservedCost(): number {
    let c = this.committedCost;
    for (const p of this.pages.values()) c += pageUnusedAllowance(p);
    return c;
  }

  /**
   * Applies a page's batch of outcomes; an outcome already recorded (a repeated signal) is ignored.
   * The page's slots shrink to what it can still use; a fully reported page leaves the window.
   */
  applyPageOutcomes(
    childId: string,
    outcomes: OldOutcome[],
    unfinished: number,
    cost?: { spent: number; inflight: number; need?: number; needKey?: string },
    report: { running?: number; paused?: boolean; ack?: number } = {},
  ): boolean {
    const page = this.pages.get(childId);
    if (!page) return false;
    const done = page.done.split('');
    for (const o of outcomes) {
      const at = o.index - page.first;
      if (at < 0 || at >= page.count || done[at] === '1') continue;
      done[at] = '1';
      delete this.blocked[o.key];
      page.spent = (page.spent ?? 0) + (o.cost ?? 0);
      this.record(o);
    }
    page.done = done.join('');
    page.unfinished = unfinished;
    page.running = report.running;
    page.paused = report.paused;
    if (cost) {
      page.pendingCost = Math.max(0, cost.spent - (page.spent ?? 0)) + cost.inflight;
      page.need = cost.need !== undefined ? { cost: cost.need, key: cost.needKey ?? '?' } : undefined;
    }
    // The page has applied the reclaim: its cost above is all it committed, within the new allowance.
    if (page.reclaim && report.ack !== undefined && report.ack >= page.reclaim.seq) page.reclaim = undefined;
    page.slots = Math.min(page.slots, Math.max(unfinished, 0));
    // A page with nothing left to start cannot commit more: what it was allowed beyond its committed
    // cost goes back to the budget, for the pages that still have items to start.
    if (page.allowance !== undefined && report.running !== undefined && unfinished <= report.running) {
      page.allowance = Math.min(page.allowance, pageCommitted(page));
    }
    if (pageUnreported(page) === 0) this.pages.delete(childId);
    // A page waiting for budget other pages held is reconsidered after any page's report.
    for (const p of this.pages.values()) p.needWaits = undefined;
    return true;
  }

  /**
   * Records an outcome: of the old record() (counts, statistics, results, failures) only the cost,
   * as recordOutcome in workflows/stats.ts added it.
   */
  record(outcome: OldOutcome): void {
    if (outcome.cost !== undefined && Number.isFinite(outcome.cost)) this.stats.cost += outcome.cost;
  }
}

/** What a page committed at its last report: cost of its recorded items, then running or unreported. */
function pageCommitted(p: OldPage): number {
  return (p.spent ?? 0) + (p.pendingCost ?? 0);
}

/** Allowance a page may still commit: until it acknowledges a reclaim, the allowance it had. */
function pageUnusedAllowance(p: OldPage): number {
  return Math.max(0, Math.max(p.allowance ?? 0, p.reclaim?.held ?? 0) - pageCommitted(p));
}

/** Items of a page whose outcome is not recorded yet. */
function pageUnreported(p: OldPage): number {
  let n = 0;
  for (const c of p.done) if (c !== '1') n += 1;
  return n;
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
export function grantAllowances(state: OldBatch, budget: number, reclaim = false): void {
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
    const headroom = budget - state.reservedCost;
    const extra = required - held;
    if (extra > headroom + 1e-9) {
      if (reclaim && reclaimFor(state, p, extra - headroom)) {
        p.needWaits = true; // for other pages' reports: any report wakes the batch again
        continue;
      }
      state.pauseForBudget(budget, p.need);
      return;
    }
    const share = (headroom * Math.max(p.slots, 1)) / state.limits.concurrency;
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
function reclaimFor(state: OldBatch, page: OldPage, missing: number): boolean {
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

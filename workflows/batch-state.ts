// The parent's bookkeeping: counters, the in-flight set, statistics and recent failures. Everything
// here is carried across continue-as-new, so every collection is bounded by `concurrency`, by a fixed
// cap, or by operator actions.
import { workflowNowIso } from './clock';
import { progressOf } from './batch-progress';
import type { CarriedState, InFlightItem } from './carried-state';
import { pageCommitted, pageUnreported, pageUnusedAllowance, type InFlightPage } from './page-slots';

export { pageUnreported, type InFlightPage };
export type { CarriedState, InFlightItem };
import { emptyStats, recordOutcome, type StatsState } from './stats';
import type {
  AuditDraft,
  BatchProgress,
  BatchStatus,
  FailureRecord,
  ItemOutcome,
  ItemStatus,
  Limits,
} from './types';

const MAX_RECENT_FAILURES = 50;

export class BatchState {
  cursor: number;
  readonly counts: Record<ItemStatus, number>;
  readonly inFlight: Map<string, InFlightItem>;
  readonly stats: StatsState;
  readonly failures: FailureRecord[];
  limits: Limits;
  paused: boolean;
  pauseReason?: string;
  resultsPage: number;
  unwrittenOutcomes: ItemOutcome[];
  /** Pending items an operator cancelled (key → index): counted skipped at once, never started. */
  readonly cancelledPending: Record<string, number>;
  readonly startedAt: string;
  readonly runNumber: number;
  readonly blocked: Record<string, string>;
  readonly pages: Map<string, InFlightPage>;
  auditQueue: AuditDraft[];
  private auditSeq: number;
  /**
   * Set once the batch is ending: `cancelling` or `failed` (failure policy) while in-flight items are
   * stopped, then the final status.
   */
  ending?: { status: BatchStatus; reason?: string };
  endedAt?: string;
  /**
   * Set while a result file cannot be written (disk full, unwritable output): the batch waits,
   * paused with it as its reason, even while ending (results-writer.ts). Not carried: the wait
   * happens before any continue-as-new.
   */
  storageFailure?: string;

  constructor(
    readonly batchId: string,
    readonly total: number,
    initialLimits: Limits,
    carried?: CarriedState,
  ) {
    this.cursor = carried?.cursor ?? 0;
    this.counts = carried?.counts ?? { succeeded: 0, failed: 0, skipped: 0, cancelled: 0 };
    this.inFlight = new Map((carried?.inFlight ?? []).map((f) => [f.key, f]));
    this.stats = carried?.stats ?? emptyStats();
    this.failures = carried?.failures ?? [];
    this.limits = carried?.limits ?? initialLimits;
    this.paused = carried?.paused ?? false;
    this.pauseReason = carried?.pauseReason;
    this.resultsPage = carried?.resultsPage ?? 0;
    this.unwrittenOutcomes = carried?.unwrittenOutcomes ?? [];
    this.cancelledPending = carried?.skipAhead ?? {};
    this.startedAt = carried?.startedAt ?? workflowNowIso();
    this.runNumber = (carried?.runNumber ?? 0) + 1;
    this.blocked = carried?.blocked ?? {};
    this.pages = new Map((carried?.pages ?? []).map((p) => [p.childId, p]));
    this.auditQueue = carried?.auditQueue ?? [];
    this.auditSeq = carried?.auditSeq ?? 0;
  }

  /**
   * Pauses before the item that would overspend the budget (it starts first on resume), saying how
   * much is spent and in flight, and audits it: per-item and page mode alike.
   */
  pauseForBudget(budget: number, next: { key: string; cost: number }): void {
    const round = (n: number) => Math.round(n * 1e6) / 1e6;
    this.paused = true;
    this.pauseReason =
      `budget ${budget} reached: spent ${round(this.stats.cost)}, in flight ${round(this.committedCost - this.stats.cost)}, ` +
      `next item ${next.key} would cost ${round(next.cost)}; raise it with \`durabatch set ${this.batchId} --budget N\` and resume`;
    this.audit({
      action: 'pause',
      by: 'budget',
      args: { budget, spent: this.stats.cost, committed: this.committedCost, reason: this.pauseReason },
    });
  }

  /** Queues an audit entry; the batch loop writes it (with the sender's identity) soon after. */
  audit(draft: Omit<AuditDraft, 'seq' | 'at'>): void {
    this.auditQueue.push({ ...draft, seq: ++this.auditSeq, at: workflowNowIso() });
  }

  toCarried(): CarriedState {
    return {
      cursor: this.cursor,
      counts: { ...this.counts },
      inFlight: [...this.inFlight.values()],
      stats: this.stats,
      failures: this.failures,
      limits: this.limits,
      paused: this.paused,
      pauseReason: this.pauseReason,
      resultsPage: this.resultsPage,
      unwrittenOutcomes: this.unwrittenOutcomes,
      skipAhead: this.cancelledPending,
      startedAt: this.startedAt,
      runNumber: this.runNumber,
      blocked: this.blocked,
      pages: [...this.pages.values()],
      auditQueue: this.auditQueue,
      auditSeq: this.auditSeq,
    };
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

  get finishedCount(): number {
    const c = this.counts;
    return c.succeeded + c.failed + c.skipped + c.cancelled;
  }

  /** True when every item has a terminal outcome. */
  get allDone(): boolean {
    return this.cursor >= this.total && this.inFlight.size === 0 && this.pages.size === 0;
  }

  /** Slots held by items and pages in flight: never more than the concurrency. */
  get usedSlots(): number {
    let used = this.inFlight.size;
    for (const p of this.pages.values()) used += p.slots;
    return used;
  }

  /** Items running now (page items: as many as the page may run, at most those it has left). */
  get runningCount(): number {
    let running = this.inFlight.size;
    for (const p of this.pages.values()) {
      // A page that said it starts no more (paused, or waiting for budget) runs what it last said.
      const held = p.paused === true || p.need !== undefined;
      running += Math.min(held ? (p.running ?? 0) : p.slots, pageUnreported(p));
    }
    return running;
  }

  /**
   * Applies a page's batch of outcomes; an outcome already recorded (a repeated signal) is ignored.
   * The page's slots shrink to what it can still use; a fully reported page leaves the window.
   */
  applyPageOutcomes(
    childId: string,
    outcomes: ItemOutcome[],
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
   * Applies a terminal outcome. Returns false for an outcome of an item that is not in flight
   * (a duplicate or stray signal), which must not be counted twice.
   */
  applyOutcome(outcome: ItemOutcome): boolean {
    if (!this.inFlight.delete(outcome.key)) return false;
    delete this.blocked[outcome.key];
    this.record(outcome);
    return true;
  }

  /** Records an outcome of an item that never ran (skipped, or cancelled before its start). */
  record(outcome: ItemOutcome): void {
    this.counts[outcome.status] += 1;
    recordOutcome(this.stats, outcome);
    this.unwrittenOutcomes.push(outcome);
    if (outcome.status === 'failed') {
      this.failures.push({
        key: outcome.key,
        index: outcome.index,
        errorType: outcome.errorType ?? 'Error',
        errorMessage: outcome.errorMessage ?? '',
        attempts: outcome.attempts,
        at: outcome.endedAt,
      });
      if (this.failures.length > MAX_RECENT_FAILURES)
        this.failures.splice(0, this.failures.length - MAX_RECENT_FAILURES);
    }
  }

  /**
   * Counts every item that never started as cancelled (the batch is ending early) and returns the
   * index from which the report must list them. Items already skipped by an operator are not recounted.
   */
  cancelNotStarted(): number {
    const from = this.cursor;
    const alreadySkipped = Object.values(this.cancelledPending).filter((i) => i >= from).length;
    this.counts.cancelled += Math.max(0, this.total - from - alreadySkipped);
    this.cursor = this.total;
    return from;
  }

  /** Returns the reason the failure policy ends the batch, if it does. */
  failurePolicyBreach(policy: {
    failFast: boolean;
    maxFailures?: number;
    maxFailureRate?: number;
  }): string | undefined {
    const failed = this.counts.failed;
    if (failed === 0) return undefined;
    if (policy.failFast) return `fail-fast: item failed (${this.failures.at(-1)?.key ?? '?'})`;
    if (policy.maxFailures !== undefined && failed > policy.maxFailures) {
      return `${failed} items failed, more than --max-failures ${policy.maxFailures}`;
    }
    if (policy.maxFailureRate !== undefined) {
      const done = this.counts.succeeded + failed;
      const rate = (failed / Math.max(done, 1)) * 100;
      // Judge the rate only once a few items finished, so one early failure does not end a large batch.
      if (done >= Math.min(10, this.total) && rate > policy.maxFailureRate) {
        return `failure rate ${rate.toFixed(1)}% exceeds --max-failure-rate ${policy.maxFailureRate}%`;
      }
    }
    return undefined;
  }

  currentStatus(): BatchStatus {
    if (this.storageFailure !== undefined) return 'paused';
    if (this.ending) return this.ending.status;
    return this.paused ? 'paused' : 'running';
  }

  progress(outputDir: string, webUiUrl: string | null): BatchProgress {
    return progressOf(this, outputDir, webUiUrl);
  }
}

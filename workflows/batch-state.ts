// The facts of a batch: where the walk through the source is, what every finished item came to, the
// limits, whether it is paused and why, what is waiting to be written, and how it ends. This class
// is their only writer: every change is one of the named verbs below, so a fact changes the same way
// whoever causes it (an operator's message, a worker's report, the budget, a full disk). Which items
// are in flight is the lanes' business (workflows/lanes/); they report finished items here.
// Everything is carried across continue-as-new, so every collection is bounded by `concurrency`, by
// a fixed cap, or by operator actions.
import { workflowNowIso } from './clock';
import type { CarriedState } from './carried-state';
import { emptyStats, recordOutcome, type StatsState } from './stats';
import { operatorSkipped } from './item-starts';
import type { SetLimitsInput } from './messages';
import type {
  AuditDraft,
  BatchStatus,
  FailurePolicy,
  FailureRecord,
  ItemOutcome,
  ItemStatus,
  Limits,
} from './types';

const MAX_RECENT_FAILURES = 50;

/** Who paused the batch, as the audit log names it: the batch itself, or an operator's message. */
export interface PauseCause {
  reason: string;
  /** The batch acted by itself: `budget`, `worker` (it cannot run items or write), `source`. */
  by?: 'budget' | 'worker' | 'source';
  /** An operator's message (its sender's identity is in history). */
  sender?: AuditDraft['sender'];
  /** More to record beside the reason (the item that was blocked, the budget's figures). */
  args?: Record<string, unknown>;
}

type Ending = { status: BatchStatus; reason?: string };

export class BatchState {
  private _cursor: number;
  private readonly _counts: Record<ItemStatus, number>;
  private readonly _stats: StatsState;
  private readonly _failures: FailureRecord[];
  private _limits: Limits;
  private _paused: boolean;
  private _pauseReason?: string;
  private _resultsPage: number;
  private readonly _unwritten: ItemOutcome[];
  /** Pending items an operator cancelled (key → index): counted skipped at once, never started. */
  private readonly _cancelledPending: Record<string, number>;
  /** In-flight items waiting for a resume because the workers could not run them (key → holder id). */
  private readonly _blocked: Record<string, string>;
  private readonly _auditQueue: AuditDraft[];
  private auditSeq: number;
  /** `cancelling` or `failed` (failure policy) while in-flight items are stopped, then the final status. */
  private _ending?: Ending;
  private _endedAt?: string;
  /**
   * Set while a result file cannot be written (disk full, unwritable output): the batch waits,
   * paused with it as its reason, even while ending (results-writer.ts). Not carried: the wait
   * happens before any continue-as-new.
   */
  private _storageFailure?: string;
  readonly startedAt: string;
  readonly runNumber: number;

  constructor(
    readonly batchId: string,
    readonly total: number,
    initialLimits: Limits,
    carried?: CarriedState,
  ) {
    this._cursor = carried?.cursor ?? 0;
    this._counts = carried?.counts ?? { succeeded: 0, failed: 0, skipped: 0, cancelled: 0 };
    this._stats = carried?.stats ?? emptyStats();
    this._failures = carried?.failures ?? [];
    this._limits = carried?.limits ?? initialLimits;
    this._paused = carried?.paused ?? false;
    this._pauseReason = carried?.pauseReason;
    this._resultsPage = carried?.resultsPage ?? 0;
    this._unwritten = carried?.unwrittenOutcomes ?? [];
    this._cancelledPending = carried?.skipAhead ?? {};
    this.startedAt = carried?.startedAt ?? workflowNowIso();
    this.runNumber = (carried?.runNumber ?? 0) + 1;
    this._blocked = carried?.blocked ?? {};
    this._auditQueue = carried?.auditQueue ?? [];
    this.auditSeq = carried?.auditSeq ?? 0;
  }

  // ---- readers -------------------------------------------------------------------------------

  /** Index of the next item no child has been given yet. */
  get cursor(): number {
    return this._cursor;
  }
  get counts(): Readonly<Record<ItemStatus, number>> {
    return this._counts;
  }
  get stats(): Readonly<StatsState> {
    return this._stats;
  }
  get failures(): readonly FailureRecord[] {
    return this._failures;
  }
  get limits(): Readonly<Limits> {
    return this._limits;
  }
  get paused(): boolean {
    return this._paused;
  }
  get pauseReason(): string | undefined {
    return this._pauseReason;
  }
  get resultsPage(): number {
    return this._resultsPage;
  }
  /** Outcomes recorded but not yet in a result page, oldest first. */
  get unwrittenOutcomes(): readonly ItemOutcome[] {
    return this._unwritten;
  }
  get cancelledPending(): Readonly<Record<string, number>> {
    return this._cancelledPending;
  }
  get blocked(): Readonly<Record<string, string>> {
    return this._blocked;
  }
  get auditQueue(): readonly AuditDraft[] {
    return this._auditQueue;
  }
  get ending(): Readonly<Ending> | undefined {
    return this._ending;
  }
  get endedAt(): string | undefined {
    return this._endedAt;
  }
  get storageFailure(): string | undefined {
    return this._storageFailure;
  }

  get finishedCount(): number {
    const c = this._counts;
    return c.succeeded + c.failed + c.skipped + c.cancelled;
  }

  /** Whether the walk reached the end of the source (every item was handed to a child or skipped). */
  get walked(): boolean {
    return this._cursor >= this.total;
  }

  currentStatus(): BatchStatus {
    if (this._storageFailure !== undefined) return 'paused';
    if (this._ending) return this._ending.status;
    return this._paused ? 'paused' : 'running';
  }

  /** Returns the reason the failure policy ends the batch, if it does. */
  failurePolicyBreach(policy: FailurePolicy): string | undefined {
    const failed = this._counts.failed;
    if (failed === 0) return undefined;
    if (policy.failFast) return `fail-fast: item failed (${this._failures.at(-1)?.key ?? '?'})`;
    if (policy.maxFailures !== undefined && failed > policy.maxFailures) {
      return `${failed} items failed, more than --max-failures ${policy.maxFailures}`;
    }
    if (policy.maxFailureRate !== undefined) {
      const done = this._counts.succeeded + failed;
      const rate = (failed / Math.max(done, 1)) * 100;
      // Judge the rate only once a few items finished, so one early failure does not end a large batch.
      if (done >= Math.min(10, this.total) && rate > policy.maxFailureRate) {
        return `failure rate ${rate.toFixed(1)}% exceeds --max-failure-rate ${policy.maxFailureRate}%`;
      }
    }
    return undefined;
  }

  // ---- verbs -----------------------------------------------------------------------------------

  /** Stops new starts and says why; every cause is audited in the same shape. */
  pause({ reason, by, sender, args }: PauseCause): void {
    this._paused = true;
    this._pauseReason = reason;
    this.audit({
      action: 'pause',
      ...(by !== undefined ? { by } : {}),
      args: { ...args, reason },
      ...(sender !== undefined ? { sender } : {}),
    });
  }

  /**
   * Pauses before the item that would overspend the budget (it starts first on resume), saying how
   * much is spent and in flight. `committed`: spent plus what items in flight are expected to cost.
   */
  pauseForBudget(budget: number, next: { key: string; cost: number }, committed: number): void {
    const round = (n: number) => Math.round(n * 1e6) / 1e6;
    this.pause({
      by: 'budget',
      reason:
        `budget ${budget} reached: spent ${round(this._stats.cost)}, in flight ${round(committed - this._stats.cost)}, ` +
        `next item ${next.key} would cost ${round(next.cost)}; raise it with \`durabatch set ${this.batchId} --budget N\` and resume`,
      args: { budget, spent: this._stats.cost, committed },
    });
  }

  /** A result file cannot be written: paused with the error as the reason until an operator resumes. */
  pauseForStorage(reason: string): void {
    this._storageFailure = reason;
    this.pause({ by: 'worker', reason });
  }

  /** The write that paused for its storage is being tried again. */
  storageRetried(): void {
    this._storageFailure = undefined;
  }

  /**
   * Lets items start again. Returns the items that waited for the workers to be fixed (key → the
   * child holding it), which must be told to run their step again; they no longer count as blocked.
   */
  resume(sender: AuditDraft['sender']): Record<string, string> {
    this._paused = false;
    this._pauseReason = undefined;
    this.audit({ action: 'resume', sender });
    const woken = { ...this._blocked };
    for (const key of Object.keys(woken)) delete this._blocked[key];
    return woken;
  }

  /** An item cannot run until the workers are fixed: remembered until `resume` wakes its holder. */
  block(key: string, holderId: string): void {
    this._blocked[key] = holderId;
  }

  /** Changes the limits (only the fields given; `null` clears rate or budget) and audits it. */
  setLimits(req: SetLimitsInput, sender: AuditDraft['sender']): Limits {
    this._limits = {
      concurrency: req.concurrency ?? this._limits.concurrency,
      rate: req.rate === undefined ? this._limits.rate : (req.rate ?? undefined),
      budget: req.budget === undefined ? this._limits.budget : (req.budget ?? undefined),
    };
    this.audit({ action: 'set', args: { ...req }, sender });
    return this._limits;
  }

  /** The walk moved on: every item before `index` has been handed to a child or skipped. */
  advanceTo(index: number): void {
    this._cursor = Math.min(this.total, Math.max(this._cursor, index));
  }

  /**
   * An operator cancelled an item not started yet: counted skipped now, never started. The caller
   * asks only once per item (`cancelledPending`): whether a second ask counts is a replay decision.
   */
  skipPending(key: string, index: number): void {
    this._cancelledPending[key] = index;
    this.record(operatorSkipped({ index, key }));
  }

  /** Records a terminal outcome (an item's own, or of an item that never ran). */
  record(outcome: ItemOutcome): void {
    delete this._blocked[outcome.key];
    this._counts[outcome.status] += 1;
    recordOutcome(this._stats, outcome);
    this._unwritten.push(outcome);
    if (outcome.status === 'failed') {
      this._failures.push({
        key: outcome.key,
        index: outcome.index,
        errorType: outcome.errorType ?? 'Error',
        errorMessage: outcome.errorMessage ?? '',
        attempts: outcome.attempts,
        at: outcome.endedAt,
      });
      if (this._failures.length > MAX_RECENT_FAILURES)
        this._failures.splice(0, this._failures.length - MAX_RECENT_FAILURES);
    }
  }

  /** The first `count` unwritten outcomes are in result page `resultsPage`, which is now written. */
  resultsPageWritten(count: number): void {
    this._unwritten.splice(0, count);
    this._resultsPage += 1;
  }

  /** Queues an audit entry; the batch loop writes it (with the sender's identity) soon after. */
  audit(draft: Omit<AuditDraft, 'seq' | 'at'>): void {
    this._auditQueue.push({ ...draft, seq: ++this.auditSeq, at: workflowNowIso() });
  }

  /** The first `count` queued audit entries were written (or given up on). */
  auditWritten(count: number): void {
    this._auditQueue.splice(0, count);
  }

  /** The batch stops starting items: `cancelling` (a cancel request) or `failed` (the failure policy). */
  beginEnding(status: 'cancelling' | 'failed', reason: string): void {
    this._ending = { status, reason };
    if (status === 'cancelling') this.audit({ action: 'cancel', sender: { kind: 'cancel' } });
  }

  /**
   * Counts every item that never started as cancelled (the batch is ending early) and returns the
   * index from which the report must list them. Items already skipped by an operator are not recounted.
   */
  cancelNotStarted(): number {
    const from = this._cursor;
    const alreadySkipped = Object.values(this._cancelledPending).filter((i) => i >= from).length;
    this._counts.cancelled += Math.max(0, this.total - from - alreadySkipped);
    this._cursor = this.total;
    return from;
  }

  /**
   * Nothing runs any more: the final status. Items failed and none succeeded means nothing of what was
   * asked happened, so the batch failed (not a partial failure).
   */
  end(): BatchStatus {
    const endedBy = this._ending?.status;
    const nothingSucceeded = this._counts.failed > 0 && this._counts.succeeded === 0;
    let status: BatchStatus = 'completed';
    if (endedBy === 'cancelling') status = 'cancelled';
    else if (endedBy === 'failed' || nothingSucceeded) status = 'failed';
    else if (this._counts.failed > 0) status = 'partial_failure';
    const reason =
      this._ending?.reason ??
      (nothingSucceeded && endedBy !== 'cancelling'
        ? `no item succeeded: ${this._counts.failed} failed`
        : undefined);
    this._ending = { status, reason };
    this._endedAt = workflowNowIso();
    return status;
  }

  /** The ending's reason gains `more` (the report could not be written). */
  amendEndingReason(more: string): string {
    const ending = this._ending ?? { status: this.currentStatus() };
    this._ending = { ...ending, reason: ending.reason ? `${ending.reason}; ${more}` : more };
    return this._ending.reason!;
  }

  /** Plain data for the next run (the lane adds what it holds in flight). */
  toCarried(): Omit<CarriedState, 'inFlight' | 'pages'> {
    return {
      cursor: this._cursor,
      counts: { ...this._counts },
      stats: this._stats,
      failures: this._failures,
      limits: this._limits,
      paused: this._paused,
      pauseReason: this._pauseReason,
      resultsPage: this._resultsPage,
      unwrittenOutcomes: this._unwritten,
      skipAhead: this._cancelledPending,
      startedAt: this.startedAt,
      runNumber: this.runNumber,
      blocked: this._blocked,
      auditQueue: this._auditQueue,
      auditSeq: this.auditSeq,
    };
  }
}

// The runner (`--item-execution runner`): a page's items run inside one heartbeating activity, with
// the batch's retry policy applied here, so an item costs no history event, workflow task or promise
// in workflow code. The page workflow stays the checkpoint and the only writer of outcomes; the
// protocol between the two is workflows/runner-protocol.ts. Here:
// - slots, pause, rate and cost allowance come from the page every RUNNER_POLL_MS and apply to the
//   next start; an operator's cancel aborts that item's work (request aborted, process killed);
// - an item runs its steps one after another, each step attempt through the same code as the
//   processItem activity (paths, allow-list, secrets, journal), retried with the batch's backoff,
//   `Retry-After`, non-retryable types; a retry waiting keeps its slot, as in every other mode;
// - finished items go to the page in batches; the attempt numbers of running items are in the
//   heartbeat details, so after a crash an item in flight goes on counting its attempts.
import { ApplicationFailure, msOptionalToNumber } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { pageRunnerQuery, runnerReportSignal } from '../../workflows/messages';
import { PageBudget } from '../../workflows/page-budget';
import { Pacer } from '../../workflows/pacer';
import { envRefsOf, MAX_MESSAGE, succeededFields } from '../../workflows/item-outcome';
import { messageExcerpt } from '../../workflows/excerpt';
import { operatorSkipped } from '../../workflows/outcomes';
import { BLOCKING_FAILURE_TYPES, FailureType } from '../../workflows/failure-types';
import { DEFAULT_STOP_GRACE_MS, stepRetry } from '../../workflows/step-retry';
import {
  RUNNER_KEYS_SHOWN,
  RUNNER_POLL_MS,
  RUNNER_REPORT_MAX,
  RUNNER_REPORT_MAX_BYTES,
  RUNNER_REPORT_MS,
  RUNNER_TAIL_REPORT_MS,
  type RunnerHeartbeat,
  type RunnerReport,
  type RunnerView,
  type RunPageItemsInput,
  type RunPageItemsResult,
  reportSize,
} from '../../workflows/runner-protocol';
import type { Item, ItemOutcome, StepResult, StepSpec } from '../../workflows/types';
import type { ProcessItemInput } from '../index';
import { HEARTBEAT_INTERVAL_MS } from '../heartbeats';

/** What one step attempt needs besides its input (processItem gives Temporal's; the runner its own). */
export interface StepAttemptContext {
  attempt: number;
  /** Aborted when the attempt must stop: cancelled, timed out, or its worker shutting down. */
  signal: AbortSignal;
  heartbeat(details?: unknown): void;
  lastHeartbeatDetails: unknown;
  /** Whether the stop is a cancellation (not a timeout): a cancelled attempt is no failure. */
  cancelRequested(): boolean;
  /** The batch's storage was checked by the caller (a runner checks once a second for all its items). */
  storageChecked?: boolean;
}

/** The page as the runner sees it. */
export interface RunnerPage {
  view(todo: boolean): Promise<RunnerView>;
  report(report: Omit<RunnerReport, 'token'>): Promise<void>;
}

export interface RunnerDeps {
  attempt(input: ProcessItemInput, a: StepAttemptContext): Promise<StepResult>;
  /** The batch's output directory is allowed and visible on this worker (throws what an attempt would). */
  checkStorage(): Promise<void>;
  readItems(offset: number, limit: number): Promise<Item[]>;
  page: RunnerPage;
  heartbeat(details: RunnerHeartbeat): void;
  lastHeartbeatDetails: unknown;
  /** The activity's cancellation (the page was cancelled, or the worker shuts down). */
  cancelled: AbortSignal;
  /** Whether `cancelled` is the page's cancellation (else a shutdown or timeout: items are left to a retry). */
  cancelRequested(): boolean;
  log: Logger;
}

/** The page workflow through the activity's client. */
export function pageOfRunner(client: Client, input: RunPageItemsInput): RunnerPage {
  const handle = client.workflow.getHandle(input.pageWorkflowId);
  return {
    view: (todo) => handle.query(pageRunnerQuery, todo ? { todo: true } : {}),
    report: (r) =>
      handle.signal(runnerReportSignal, { ...r, ...(input.token ? { token: input.token } : {}) }),
  };
}

/** After this long without an answer from the page the runner starts nothing (it cannot see a pause). */
const BLIND_AFTER_MS = 2_000;

/** operator: cancel --item; stopping: the page ends; shutdown: this worker stops (a retry runs it). */
type StopReason = 'operator' | 'stopping' | 'shutdown';

interface Running {
  item: Item;
  abort: AbortController;
  reason?: StopReason;
  /** The attempt begun last (0 before the first). */
  attempt: number;
}

/** A step the workers cannot run at all: the page pauses the batch and starts a new runner on resume. */
class Blocked extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'Blocked';
  }
}

export async function runPageItems(input: RunPageItemsInput, deps: RunnerDeps): Promise<RunPageItemsResult> {
  return new PageRunner(input, deps).run();
}

class PageRunner {
  private view!: RunnerView;
  private viewAt = 0;
  private readonly queue: Item[] = [];
  private readonly running = new Map<string, Running>();
  private readonly outbox: ItemOutcome[] = [];
  /** JSON size of the outcomes in the outbox: a full report goes at once. */
  private outboxBytes = 0;
  private storageCheckedAt = 0;
  private storageCheck: Promise<void> | undefined;
  private firstUnsentAt: number | undefined;
  /** Items started since the last report: the page's Current Details show them within RUNNER_REPORT_MS. */
  private startedSinceReport = false;
  private lastReportAt = 0;
  private sent = 0;
  private applied = 0;
  /** The view version whose cost need was sent (ask once per allowance the page gives). */
  private askedFor = -1;
  /** An acknowledgement is owed to the page (a pause, a reclaim, a need): report now. */
  private reportNow = false;
  private budget!: PageBudget;
  private readonly pacer = new Pacer(() => Date.now());
  private blocked: Blocked | undefined;
  private readonly resumed = new Map<number, number>();
  private wake: () => void = () => {};
  private closed = false;

  constructor(
    private readonly input: RunPageItemsInput,
    private readonly deps: RunnerDeps,
  ) {}

  private get spec() {
    return this.input.spec;
  }

  async run(): Promise<RunPageItemsResult> {
    const beat = setInterval(() => this.deps.heartbeat(this.heartbeatDetails()), HEARTBEAT_INTERVAL_MS);
    const abortAll = () => this.stopAll(this.deps.cancelRequested() ? 'stopping' : 'shutdown');
    this.deps.cancelled.addEventListener('abort', abortAll);
    try {
      const first = await this.firstView();
      this.budget = new PageBudget(this.spec.cost, () => this.view.control, first.spent);
      await this.readTodo(first.todo ?? []);
      this.restoreAttempts();
      this.apply(first);
      const poller = this.poll();
      try {
        await this.loop();
      } finally {
        this.closed = true;
        this.wake();
        await poller;
      }
      await this.flushAll();
      if (this.deps.cancelled.aborted && !this.deps.cancelRequested()) {
        // Not the page's cancellation: the items stopped here run again in the next attempt.
        throw new Error('runner stopped (worker shutting down or timed out): its items left run again');
      }
      if (this.blocked) throw ApplicationFailure.nonRetryable(this.blocked.message, this.blocked.type);
      return { sent: this.sent, stopped: this.stopping() };
    } finally {
      clearInterval(beat);
      this.deps.cancelled.removeEventListener('abort', abortAll);
    }
  }

  private stopping(): boolean {
    return this.view.stopping || this.deps.cancelled.aborted;
  }

  private heartbeatDetails(): RunnerHeartbeat {
    return { attempts: [...this.running.values()].map((r) => [r.item.index, r.attempt]) };
  }

  /** Attempts begun by an earlier attempt of this runner, by item index (its heartbeat details). */
  private restoreAttempts(): void {
    const d = this.deps.lastHeartbeatDetails as Partial<RunnerHeartbeat> | undefined;
    if (!Array.isArray(d?.attempts)) return;
    for (const pair of d.attempts) {
      if (Array.isArray(pair) && Number.isInteger(pair[0]) && Number.isInteger(pair[1])) {
        this.resumed.set(pair[0], pair[1]);
      }
    }
  }

  /** The page's first answer, with the items left; a page not answering yet is asked again. */
  private async firstView(): Promise<RunnerView> {
    for (let wait = 200; ; wait = Math.min(wait * 2, 5_000)) {
      if (this.deps.cancelled.aborted) throw new Error('cancelled before the page answered');
      try {
        const v = await this.deps.page.view(true);
        this.view = v;
        this.viewAt = Date.now();
        return v;
      } catch (err) {
        this.deps.log.warn({ err: (err as Error).message }, 'runner: the page does not answer yet');
        await delay(wait);
      }
    }
  }

  private async readTodo(todo: [number, number][]): Promise<void> {
    const left = new Set<number>();
    for (const [a, b] of todo) for (let i = a; i < b; i++) left.add(i);
    const end = this.input.first + this.input.count;
    for (let offset = this.input.first; offset < end;) {
      const items = await this.deps.readItems(offset, end - offset);
      if (items.length === 0) throw new Error(`source ended at item ${offset}`);
      for (const item of items) if (left.has(item.index) && item.invalid === undefined) this.queue.push(item);
      offset += items.length;
    }
  }

  /** Asks the page every RUNNER_POLL_MS until the runner closes. */
  private async poll(): Promise<void> {
    while (!this.closed) {
      await delay(RUNNER_POLL_MS, () => this.closed);
      if (this.closed) return;
      try {
        const v = await this.deps.page.view(false);
        this.viewAt = Date.now();
        this.apply(v);
      } catch (err) {
        this.deps.log.warn({ err: (err as Error).message }, 'runner: could not ask the page');
      }
      this.wake();
    }
  }

  /** Takes a new view: cancels, stops, and what is owed to the page for it. */
  private apply(v: RunnerView): void {
    const before = this.view;
    this.view = v;
    for (const key of v.cancel) {
      const r = this.running.get(key);
      if (r) {
        this.stop(r, 'operator');
        continue;
      }
      const at = this.queue.findIndex((i) => i.key === key);
      if (at >= 0) this.finish(operatorSkipped(this.queue.splice(at, 1)[0]!));
    }
    if (v.stopping) this.stopAll('stopping');
    if (v.version !== this.applied) {
      const c = v.control;
      const was = before?.control;
      // The page waits for these: a pause or a reclaim is acknowledged once applied here.
      if (!was || c.paused !== was.paused || c.reclaim !== was.reclaim) this.reportNow = true;
      this.applied = v.version;
    }
  }

  private stopAll(reason: StopReason): void {
    for (const r of this.running.values()) this.stop(r, reason);
    this.wake();
  }

  private stop(r: Running, reason: StopReason): void {
    if (r.abort.signal.aborted) return;
    r.reason = reason;
    r.abort.abort(reason);
  }

  private blind(): boolean {
    return Date.now() - this.viewAt > BLIND_AFTER_MS;
  }

  private canStart(): boolean {
    const next = this.queue[0];
    const c = this.view.control;
    return (
      next !== undefined &&
      !this.stopping() &&
      !this.blocked &&
      !c.paused &&
      !this.blind() &&
      this.running.size < c.slots &&
      this.budget.fits(next)
    );
  }

  /** Starts what may start, sends what is due, and waits for the next change, until all ran. */
  private async loop(): Promise<void> {
    for (;;) {
      let pacedFor = 0;
      while (this.canStart()) {
        pacedFor = this.pacer.reserve(this.view.control.ratePerSec);
        if (pacedFor > 0) break;
        this.start(this.queue.shift()!);
      }
      const next = this.queue[0];
      if (next && this.askedFor !== this.applied && this.needsAllowance(next)) {
        this.askedFor = this.applied;
        this.reportNow = true;
      }
      const idle = this.running.size === 0;
      const done = idle && (this.queue.length === 0 || this.stopping() || this.blocked !== undefined);
      if (done) return;
      const waitReport = this.reportDueIn();
      if (waitReport === 0) {
        await this.report();
        continue;
      }
      const waits = [waitReport, pacedFor > 0 ? pacedFor : Infinity, RUNNER_POLL_MS];
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(...waits));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = () => {};
    }
  }

  private needsAllowance(next: Item): boolean {
    const c = this.view.control;
    return !c.paused && c.slots > 0 && !this.stopping() && !this.budget.fits(next);
  }

  /** Milliseconds until the outbox must go to the page (0: now). */
  private reportDueIn(): number {
    if (this.reportNow || this.outbox.length >= RUNNER_REPORT_MAX) return 0;
    if (this.outboxBytes >= RUNNER_REPORT_MAX_BYTES) return 0;
    if (this.firstUnsentAt === undefined) {
      return this.startedSinceReport
        ? Math.max(0, this.lastReportAt + RUNNER_REPORT_MS - Date.now())
        : Infinity;
    }
    // Nothing left to start here: every finished item frees a slot another page could use.
    const within = this.queue.length === 0 ? RUNNER_TAIL_REPORT_MS : RUNNER_REPORT_MS;
    return Math.max(0, this.firstUnsentAt + within - Date.now());
  }

  /** Sends one report (the outbox's head); a failed send keeps its outcomes for the next. */
  private async report(): Promise<void> {
    this.reportNow = false;
    const outcomes = this.outbox.slice(0, reportSize(this.outbox));
    const cost = this.budget.report(this.queue[0]);
    const running = [...this.running.keys()];
    try {
      await this.deps.page.report({
        outcomes,
        applied: this.applied,
        running: running.length,
        runningKeys: running.slice(0, RUNNER_KEYS_SHOWN),
        ...(cost ? { inflight: cost.inflight } : {}),
        ...(cost?.need !== undefined ? { need: cost.need, needKey: cost.needKey } : {}),
      });
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, outcomes: outcomes.length }, 'runner: report failed');
      this.reportNow = true;
      await delay(500);
      return;
    }
    this.outbox.splice(0, outcomes.length);
    this.outboxBytes = this.outbox.reduce((sum, o) => sum + JSON.stringify(o).length, 0);
    this.sent += outcomes.length;
    this.startedSinceReport = false;
    this.lastReportAt = Date.now();
    this.firstUnsentAt = this.outbox.length > 0 ? Date.now() : undefined;
  }

  /** Sends every outcome left (the page must have them all before the activity completes). */
  private async flushAll(): Promise<void> {
    this.reportNow = true;
    for (let tries = 0; this.outbox.length > 0 || this.reportNow; tries++) {
      if (this.deps.cancelled.aborted && tries > 20) {
        throw new Error(`could not report ${this.outbox.length} outcomes to the page`);
      }
      await this.report();
    }
  }

  private finish(outcome: ItemOutcome): void {
    this.outbox.push(outcome);
    this.outboxBytes += JSON.stringify(outcome).length;
    this.firstUnsentAt ??= Date.now();
    this.wake();
  }

  private start(item: Item): void {
    const r: Running = { item, abort: new AbortController(), attempt: 0 };
    this.running.set(item.key, r);
    this.startedSinceReport = true;
    this.budget.started(item);
    void this.runItem(r).then(
      (outcome) => {
        this.running.delete(item.key);
        if (outcome) {
          this.budget.finished(item.key, outcome.cost);
          this.finish(outcome);
        } else {
          // Blocked or shut down: back to the front, for the runner that follows.
          this.budget.finished(item.key, undefined);
          this.queue.unshift(item);
          this.wake();
        }
      },
      (err: unknown) => {
        // runItem never throws; if it does, the item stays unreported and a new runner runs it.
        this.running.delete(item.key);
        this.deps.log.error({ itemKey: item.key, err: String(err) }, 'runner: item crashed');
        this.wake();
      },
    );
  }

  /** Runs the item's steps with retries; undefined when it is blocked or its worker stops (no outcome). */
  private async runItem(r: Running): Promise<ItemOutcome | undefined> {
    const { item } = r;
    const started = Date.now();
    const startedAt = new Date(started).toISOString();
    const steps = this.spec.steps;
    const pipeline = steps.length > 1;
    const results: Record<string, StepResult> = {};
    const end = (partial: Omit<ItemOutcome, 'index' | 'key' | 'latencyMs' | 'startedAt' | 'endedAt'>) => ({
      index: item.index,
      key: item.key,
      latencyMs: Date.now() - started,
      startedAt,
      endedAt: new Date().toISOString(),
      ...partial,
    });
    // An earlier runner died with this item in flight: its attempts so far count.
    let attempt = this.resumed.get(item.index) ?? 0;
    this.resumed.delete(item.index);
    for (const step of steps) {
      const retry = stepRetry(this.spec.retry, step);
      const failedStep = pipeline ? step.name : undefined;
      for (;;) {
        attempt += 1;
        r.attempt = attempt;
        if (attempt > retry.maxAttempts) {
          // Only after a crash: the attempt in flight then is lost, like an activity's heartbeat timeout.
          const message = `the worker running attempt ${attempt - 1} stopped (no heartbeat)`;
          return end({
            status: 'failed',
            attempts: attempt - 1,
            errorType: FailureType.Timeout,
            errorMessage: failedStep ? `step ${failedStep}: ${message}` : message,
            failedStep,
          });
        }
        const outcome = await this.attemptStep(r, step, attempt, results);
        if ('result' in outcome) {
          results[step.name] = outcome.result;
          attempt = 0;
          break;
        }
        if (outcome.stopped) {
          if (r.reason === 'shutdown') return undefined;
          return end({
            status: 'cancelled',
            attempts: Math.max(attempt, ...Object.values(results).map((s) => s.attempt)),
            errorType: FailureType.Cancelled,
            errorMessage: 'item cancelled',
            failedStep,
          });
        }
        const f = outcome.failure;
        if (BLOCKING_FAILURE_TYPES.includes(f.type)) {
          this.blocked ??= new Blocked(f.type, f.message);
          return undefined;
        }
        const retryable = !f.nonRetryable && !(retry.nonRetryableErrorTypes ?? []).includes(f.type);
        if (!retryable || attempt >= retry.maxAttempts) {
          const message = messageExcerpt(f.message, MAX_MESSAGE);
          return end({
            status: 'failed',
            attempts: attempt,
            errorType: f.type,
            errorMessage: failedStep ? `step ${failedStep}: ${message}` : message,
            httpStatus: f.httpStatus,
            failedStep,
          });
        }
        const backoff = Math.min(
          retry.initialIntervalMs * retry.backoffCoefficient ** (attempt - 1),
          retry.maxIntervalMs,
        );
        await delay(f.nextRetryDelayMs ?? backoff, () => r.abort.signal.aborted);
        if (r.abort.signal.aborted) {
          if (r.reason === 'shutdown') return undefined;
          return end({
            status: 'cancelled',
            attempts: attempt,
            errorType: FailureType.Cancelled,
            errorMessage: 'item cancelled',
            failedStep,
          });
        }
      }
    }
    return end(succeededFields(item, this.spec.cost, Object.values(results)));
  }

  /** Checks the batch's storage unless a check passed within STORAGE_CHECK_MS (one for all items). */
  private async storageFresh(): Promise<void> {
    if (Date.now() - this.storageCheckedAt < STORAGE_CHECK_MS) return;
    this.storageCheck ??= this.deps.checkStorage().then(
      () => {
        this.storageCheckedAt = Date.now();
        this.storageCheck = undefined;
      },
      (err: unknown) => {
        this.storageCheck = undefined;
        throw err;
      },
    );
    await this.storageCheck;
  }

  /** One attempt of one step: its result, its failure, or that it was stopped. */
  private async attemptStep(
    r: Running,
    step: StepSpec,
    attempt: number,
    results: Record<string, StepResult>,
  ): Promise<{ result: StepResult } | { stopped: true } | { stopped: false; failure: Failure }> {
    const retry = stepRetry(this.spec.retry, step);
    const stopGraceMs = retry.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    // The processor keeps its own timeout; this bounds an attempt like an activity's start-to-close.
    const attemptAbort = new AbortController();
    const onStop = () => attemptAbort.abort(r.reason);
    r.abort.signal.addEventListener('abort', onStop);
    if (r.abort.signal.aborted) onStop();
    const timer = setTimeout(
      () => attemptAbort.abort('timeout'),
      step.processor.timeoutMs + stopGraceMs + 5_000,
    );
    try {
      await this.storageFresh();
      const result = await this.deps.attempt(
        {
          batchId: this.spec.batchId,
          item: r.item,
          step,
          pipeline: this.spec.steps.length > 1,
          steps: { ...results },
          ...(this.spec.steps.length > 1 ? { batchEnvRefs: envRefsOf(this.spec.steps) } : {}),
          outputDir: this.spec.outputDir,
          stopGraceMs: retry.stopGraceMs,
        },
        {
          attempt,
          signal: attemptAbort.signal,
          // A processor's own progress details are not kept by the runner (one heartbeat for all items).
          heartbeat: () => {},
          lastHeartbeatDetails: undefined,
          cancelRequested: () => r.abort.signal.aborted,
          storageChecked: true,
        },
      );
      // An attempt that succeeded took effect, even if a stop came meanwhile: it is recorded as such.
      return { result };
    } catch (err) {
      if (r.abort.signal.aborted) return { stopped: true };
      if (attemptAbort.signal.aborted) {
        return {
          stopped: false,
          failure: {
            type: FailureType.Timeout,
            message: `attempt ${attempt} did not end within its timeout`,
            nonRetryable: false,
          },
        };
      }
      return { stopped: false, failure: failureOf(err) };
    } finally {
      clearTimeout(timer);
      r.abort.signal.removeEventListener('abort', onStop);
    }
  }
}

/** How long a storage check holds for the runner's items (the processItem activity checks every attempt). */
const STORAGE_CHECK_MS = 1_000;

interface Failure {
  type: string;
  message: string;
  nonRetryable: boolean;
  httpStatus?: number;
  nextRetryDelayMs?: number;
}

/** An attempt's error as Temporal would record it: an ApplicationFailure's type, else the error's name. */
function failureOf(err: unknown): Failure {
  if (err instanceof ApplicationFailure) {
    const details = err.details?.[0] as { httpStatus?: unknown } | undefined;
    return {
      type: err.type ?? 'Error',
      message: err.message,
      nonRetryable: err.nonRetryable === true,
      ...(typeof details?.httpStatus === 'number' ? { httpStatus: details.httpStatus } : {}),
      ...(err.nextRetryDelay !== undefined
        ? { nextRetryDelayMs: msOptionalToNumber(err.nextRetryDelay) }
        : {}),
    };
  }
  const e = err as { name?: unknown; message?: unknown };
  return {
    type: typeof e?.name === 'string' && e.name ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    nonRetryable: false,
  };
}

/** Waits `ms`, or less once `until` holds (checked every RUNNER_POLL_MS). */
async function delay(ms: number, until?: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (until?.()) return;
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(end - Date.now(), RUNNER_POLL_MS)));
  }
}

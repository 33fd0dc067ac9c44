// The item lane (the default): one child workflow per item (`<batchId>/<itemKey>`, workflows/item.ts).
// The lane reads the staged source a page at a time, paces starts at the batch's rate, stops before
// an item the budget cannot pay for, skips items rejected at staging or cancelled by an operator, and
// starts a child for each other item. Children report by result to the run that started them, or by
// signal (after continue-as-new, and always when cancelled); the in-flight map is the slot count.
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  sleep,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import { readPage } from '../activity-options';
import type { BatchState } from '../batch-state';
import type { BatchInput } from '../batch-input';
import type { InFlightItem } from '../carried-state';
import { workflowNowIso } from '../clock';
import { expectedCost } from '../cost';
import { ITEM_WORKFLOW_CLOSED, FailureType } from '../failure-types';
import { itemWorkflow } from '../item';
import type { ItemRunSpec } from '../item-run';
import { reportBySignalSignal, type ItemsCompleted } from '../messages';
import { fromHolder, senderToken, tokensEnabled, type Sender } from '../message-validation';
import { unranOutcome } from '../outcomes';
import type { PatchName } from '../patches';
import { batchIdKey, itemKeyKey } from '../search-attributes';
import { Pacer, sourcePauseOf } from '../item-starts';
import type { Item, ItemOutcome } from '../types';
import {
  ChildLane,
  closedWithoutReport,
  MAX_STARTS_PER_TASK,
  type Gate,
  type Holder,
  type Lane,
  type Taken,
} from './lane';
import { childTaskTimeout } from './local-task-timeout';

/** How long the parent waits, before continuing-as-new, for a child that closed while being switched. */
const SWITCH_GRACE_MS = 60_000;

export class ItemLane extends ChildLane<InFlightItem> implements Lane {
  private readonly inFlight: Map<string, InFlightItem>;
  /** Keys of items in flight whose child reports by result to this run (not carried over). */
  private readonly byResult = new Set<string>();
  /** Items read from the source and not started yet (this run only: re-read after continue-as-new). */
  private readonly buffer: Item[] = [];
  private readonly pacer = new Pacer();
  private tokens: boolean | undefined;

  constructor(
    state: BatchState,
    private readonly input: Pick<BatchInput, 'batchId' | 'source' | 'pageSize' | 'cost' | 'messageSecret'>,
    private readonly spec: ItemRunSpec,
    carried: InFlightItem[],
    /** Called after an outcome arrived by result (reports by signal have their handler's). */
    private readonly onOutcome: () => void,
    patches?: Partial<Record<PatchName, boolean>>,
  ) {
    super(state, input.batchId, patches);
    this.inFlight = new Map(carried.map((f) => [f.key, f]));
  }

  protected records(): Iterable<InFlightItem> {
    return this.inFlight.values();
  }

  get usedSlots(): number {
    return this.inFlight.size;
  }

  get running(): number {
    return this.inFlight.size;
  }

  get wantsTurn(): boolean {
    return false;
  }

  /** Only this run starts items: once it has the pause, nothing new starts. */
  pauseUnacknowledged(): string[] {
    return [];
  }

  /** Spent cost plus what items in flight are expected to cost. */
  get committedCost(): number {
    let c = this.state.stats.cost;
    for (const f of this.inFlight.values()) c += f.expectedCost ?? 0;
    return c;
  }

  /** Starts as many items as the window and the rate allow. */
  async fill(gate: Gate): Promise<void> {
    const state = this.state;
    let issued = 0;
    while (gate.open() && this.usedSlots < state.limits.concurrency && !gate.historyFull()) {
      const wait = this.pacer.reserve(state.limits.rate);
      if (wait > 0) {
        await sleep(wait);
        continue; // limits, pause or cancel may have changed while waiting
      }
      const item = await this.nextItem();
      if (item === 'source-paused') return;
      const cost = item.invalid === undefined ? expectedCost(item, this.input.cost, state.stats) : 0;
      const budget = state.limits.budget;
      const cancelled = item.key in state.cancelledPending; // by an operator: already counted skipped
      if (budget !== undefined && !cancelled && this.committedCost + cost > budget) {
        // Stop before the item that would overspend; it starts first when the operator resumes.
        this.buffer.unshift(item);
        state.pauseForBudget(budget, { key: item.key, cost }, this.committedCost);
        return;
      }
      state.advanceTo(item.index + 1);
      if (cancelled) continue;
      if (item.invalid !== undefined) {
        // Rejected at staging (validation, parse error, size): reported, never sent to the target.
        state.record(unranOutcome(item, 'skipped', FailureType.InvalidItem, item.invalid));
        continue;
      }
      this.start(item, cost);
      if (++issued >= MAX_STARTS_PER_TASK) {
        await this.allStarted();
        issued = 0;
      }
    }
  }

  /** The next item, or 'source-paused' when the source was edited or cannot be read (the batch pauses). */
  private async nextItem(): Promise<Item | 'source-paused'> {
    if (this.buffer.length === 0) {
      try {
        const { batchId, source } = this.input;
        const limit = this.input.pageSize ?? 100;
        this.buffer.push(...(await readPage({ batchId, source, offset: this.state.cursor, limit })));
      } catch (err) {
        const cause = sourcePauseOf(err);
        if (!cause) throw err;
        // Never mix two versions of the input, never fail items for a worker that cannot see the
        // files: stop starting items and say why; the operator fixes it and resumes, or cancels.
        const by = cause.type === FailureType.SourceChangedError ? 'source' : 'worker';
        this.state.pause({ reason: cause.message, by });
        return 'source-paused';
      }
    }
    const item = this.buffer.shift();
    if (!item) {
      // The staged source holds fewer items than its manifest said: stop rather than spin.
      throw ApplicationFailure.nonRetryable(
        `source ended at item ${this.state.cursor} of ${this.state.total}`,
        FailureType.SourceTruncated,
      );
    }
    return item;
  }

  private childId(key: string): string {
    return `${this.batchId}/${key}`;
  }

  /** Marks the item in flight at once (its outcome signal may arrive before the start resolves). */
  private start(item: Item, expectedCost: number): void {
    const childId = this.childId(item.key);
    // A run replayed from before reports by result keeps signals.
    const report = this.has('reportByResult') ? 'result' : 'signal';
    if (report === 'result') this.byResult.add(item.key);
    // Its reports must carry this token: a signal forged by another client cannot know it.
    this.tokens ??= tokensEnabled();
    const token = senderToken(this.tokens, this.input.messageSecret, childId);
    this.inFlight.set(item.key, {
      key: item.key,
      index: item.index,
      childId,
      startedAt: workflowNowIso(),
      expectedCost,
      ...(token !== undefined ? { token } : {}),
    });
    this.starts.track(
      () =>
        startChild(itemWorkflow, {
          workflowId: childId,
          args: [
            {
              ...this.spec,
              parentWorkflowId: workflowInfo().workflowId,
              item,
              report,
              ...(token !== undefined ? { reportToken: token } : {}),
            },
          ],
          // Children must outlive this run: the parent continues-as-new while they are in flight.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          ...childTaskTimeout(this.spec),
          typedSearchAttributes: [
            { key: batchIdKey, value: this.batchId },
            { key: itemKeyKey, value: item.key },
          ],
          staticSummary: `item ${item.key} of batch ${this.batchId}`,
          staticDetails: `**item** ${item.key} (row ${item.index + 1}, line ${item.line})\n\n**batch** ${this.batchId}`,
        }),
      (child) => {
        if (report === 'result') {
          void child.result().then(
            (outcome) => this.reported(outcome),
            (err: unknown) => this.failedResult(item, childId, err),
          );
        }
      },
      (err: unknown) => {
        this.byResult.delete(item.key);
        // A child that cannot be started is a failed item, not a stuck slot.
        const cancelled = isCancellation(err);
        this.settle(
          unranOutcome(
            item,
            cancelled ? 'cancelled' : 'failed',
            cancelled ? FailureType.Cancelled : FailureType.ChildStartFailed,
            err instanceof Error ? err.message : String(err),
          ),
        );
      },
    );
  }

  /** Records the outcome of an item in flight; false for one not in flight (a duplicate or stray). */
  private settle(outcome: ItemOutcome): boolean {
    if (!this.inFlight.delete(outcome.key)) return false;
    this.state.record(outcome);
    return true;
  }

  takeItemReport(outcome: ItemOutcome, sender: Sender): Taken {
    const holder = this.inFlight.get(outcome.key);
    if (holder && (holder.index !== outcome.index || !fromHolder(holder, sender))) {
      return { ignored: 'not sent by the child that holds the item' };
    }
    return this.settle(outcome) ? 'applied' : 'stray';
  }

  takePageReport(_report: ItemsCompleted): Taken {
    return 'stray'; // no page runs in this lane
  }

  holderOf(key: string): Holder | undefined {
    return this.inFlight.get(key);
  }

  cancelRunning(key: string): Promise<void> | undefined {
    const running = this.inFlight.get(key);
    return running && this.cancelChild(running.childId);
  }

  cancelInPage(): undefined {
    return undefined; // no page runs in this lane
  }

  private reported(outcome: ItemOutcome): void {
    this.byResult.delete(outcome.key);
    // false when its signal came first (cancelled, or switched)
    if (this.settle(outcome)) this.onOutcome();
  }

  /**
   * A child that reports by result ended Failed, Canceled, Terminated or TimedOut. A failed item's
   * outcome is the failure's details; a cancelled child also signals its outcome (its result carries
   * none), so that signal is awaited; a terminated or timed-out child never reports: it is failed here.
   */
  private failedResult(item: Item, childId: string, err: unknown): void {
    this.byResult.delete(item.key);
    const cause = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    const details =
      cause instanceof ApplicationFailure ? (cause.details?.[0] as ItemOutcome | undefined) : undefined;
    if (details?.key === item.key) return this.reported(details);
    if (isCancellation(cause)) return;
    const f = this.inFlight.get(item.key);
    if (!f) return;
    this.settle(
      unranOutcome(
        item,
        'failed',
        ITEM_WORKFLOW_CLOSED,
        `item workflow ${childId} closed without an outcome: ${cause?.message ?? String(err)}`,
        f.startedAt,
      ),
    );
    this.onOutcome();
  }

  /** Children awaited by result need no check: their result says when they closed. */
  protected override watched(f: InFlightItem): boolean {
    return !this.byResult.has(f.key);
  }

  protected async failClosed(closedIds: string[]): Promise<void> {
    const closed = new Set(closedIds);
    for (const f of [...this.inFlight.values()]) {
      // A child awaited by result is failed by failedResult if it closed without an outcome; one
      // that closed normally may be seen closed before its result reaches this run.
      if (!closed.has(f.childId) || this.byResult.has(f.key)) continue;
      this.settle(
        unranOutcome(
          f,
          'failed',
          ITEM_WORKFLOW_CLOSED,
          `item ${closedWithoutReport(f.childId)}`,
          f.startedAt,
        ),
      );
    }
    return Promise.resolve();
  }

  protected forceCancelled(why: string): void {
    for (const f of [...this.inFlight.values()]) {
      this.settle(unranOutcome(f, 'cancelled', FailureType.Cancelled, why, f.startedAt));
    }
  }

  protected itemStartsRecorded(): Promise<void> {
    return this.allStarted();
  }

  pagesStarted(): undefined {
    return undefined; // no page runs in this lane
  }

  /**
   * Before this run continues-as-new: children awaited by result here would report to a closed run,
   * so each is told to report by signal instead. A child that already closed cannot be told; its
   * result is on its way to this run and is waited for (at most SWITCH_GRACE_MS, after which the
   * next run's closed-children check fails it).
   */
  async switchToSignals(): Promise<void> {
    await this.allStarted();
    const keys = [...this.byResult].filter((key) => this.inFlight.has(key));
    await Promise.all(
      keys.map(async (key) => {
        try {
          // Its token goes with it: a child takes reportBySignal only from its parent.
          const token = this.inFlight.get(key)?.token;
          const child = getExternalWorkflowHandle(this.childId(key));
          await (token !== undefined
            ? child.signal(reportBySignalSignal, { token })
            : child.signal(reportBySignalSignal));
          this.byResult.delete(key);
        } catch {
          await condition(() => !this.inFlight.has(key), SWITCH_GRACE_MS);
        }
      }),
    );
  }

  toCarried(): { inFlight: InFlightItem[]; pages: [] } {
    return { inFlight: [...this.inFlight.values()], pages: [] };
  }
}

// The batch's item children (one workflow per item): where items are started, cancelled, and learnt
// about when they close without reporting. Starts are issued together (not awaited one by one) and
// tracked, so the parent can make sure every start is recorded before it continues-as-new. Page mode
// starts its children in page-children.ts; cancelling and watching them goes through here too.
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  sleep,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { bookkeeping } from './activity-options';
import type { PageChildren } from './page-children';
import type { BatchState } from './batch-state';
import { workflowNow, workflowNowIso } from './clock';
import { ITEM_WORKFLOW_CLOSED, FailureType } from './failure-types';
import { unranOutcome } from './outcomes';
import { failClosedUnreported } from './closed-children';
import { stillOpen } from './workflows-open';
import { itemWorkflow, type ItemInput } from './item';
import { reportBySignalSignal } from './messages';
import { senderToken, tokensEnabled } from './message-validation';
import { batchIdKey, itemKeyKey } from './search-attributes';
import type { Item, ItemOutcome } from './types';

export type ChildTemplate = Omit<ItemInput, 'item' | 'parentWorkflowId' | 'report'>;

/** Marks runs whose item children report by result (runs from before it receive signals only). */
const REPORT_BY_RESULT_PATCH = 'item-outcome-by-result';
/**
 * Cancelling one item waits until its holder's start is recorded: a cancel request sent to a child
 * not started yet finds no workflow and was lost (the item ran to its end). Shared with page-children.
 */
export const CANCEL_AFTER_START_PATCH = 'item-cancel-after-start';

const { findClosedWorkflows } = proxyActivities<ReturnType<typeof createActivities>>(
  bookkeeping({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  }),
);

/** How long the parent waits, before continuing-as-new, for a child that closed while being switched. */
const SWITCH_GRACE_MS = 60_000;

/** Starts, cancels and watches the item child workflows of one batch run. */
export class ItemChildren {
  private readonly starting = new Set<Promise<void>>();
  /** Keys of items in flight whose child reports by result to this run (not carried over). */
  private readonly byResult = new Set<string>();
  private reportByResult: boolean | undefined;
  private tokens: boolean | undefined;
  /** Page mode: the page children, cancelled and watched here too. */
  pages?: PageChildren;

  constructor(
    private readonly state: BatchState,
    private readonly template: ChildTemplate,
    /** The batch's message secret (BatchInput.messageSecret): never in a child's input. */
    private readonly messageSecret?: string,
  ) {}

  childId(key: string): string {
    return `${this.template.batchId}/${key}`;
  }

  /** Marks the item in flight at once (its outcome signal may arrive before the start resolves). */
  start(item: Item, expectedCost?: number): void {
    const childId = this.childId(item.key);
    // Decided once per run, at its first start: a run replayed from before the patch keeps signals.
    this.reportByResult ??= patched(REPORT_BY_RESULT_PATCH);
    const report = this.reportByResult ? 'result' : 'signal';
    if (report === 'result') this.byResult.add(item.key);
    // Its reports must carry this token: a signal forged by another client cannot know it.
    this.tokens ??= tokensEnabled();
    const token = senderToken(this.tokens, this.messageSecret, childId);
    this.state.inFlight.set(item.key, {
      key: item.key,
      index: item.index,
      childId,
      startedAt: workflowNowIso(),
      expectedCost,
      ...(token !== undefined ? { token } : {}),
    });
    // Not cancellable: a start that was issued completes, so a batch cancellation never leaves a child
    // half-started; the ending path then cancels every started child by id.
    const p = CancellationScope.nonCancellable(() =>
      startChild(itemWorkflow, {
        workflowId: childId,
        args: [
          {
            ...this.template,
            parentWorkflowId: workflowInfo().workflowId,
            item,
            report,
            ...(token !== undefined ? { reportToken: token } : {}),
          },
        ],
        // Children must outlive this run: the parent continues-as-new while they are in flight.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        typedSearchAttributes: [
          { key: batchIdKey, value: this.template.batchId },
          { key: itemKeyKey, value: item.key },
        ],
        staticSummary: `item ${item.key} of batch ${this.template.batchId}`,
        staticDetails: `**item** ${item.key} (row ${item.index + 1}, line ${item.line})\n\n**batch** ${this.template.batchId}`,
      }),
    ).then(
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
        this.state.applyOutcome(
          unranOutcome(
            item,
            cancelled ? 'cancelled' : 'failed',
            cancelled ? FailureType.Cancelled : FailureType.ChildStartFailed,
            err instanceof Error ? err.message : String(err),
          ),
        );
      },
    );
    this.starting.add(p);
    void p.finally(() => this.starting.delete(p));
  }

  /** Called after an outcome arrived by result (signals have their handler's). */
  onOutcome?: () => void;

  private reported(outcome: ItemOutcome): void {
    this.byResult.delete(outcome.key);
    // false when its signal came first (cancelled, or switched)
    if (this.state.applyOutcome(outcome)) this.onOutcome?.();
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
    const f = this.state.inFlight.get(item.key);
    if (!f) return;
    this.state.applyOutcome(
      unranOutcome(
        item,
        'failed',
        ITEM_WORKFLOW_CLOSED,
        `item workflow ${childId} closed without an outcome: ${cause?.message ?? String(err)}`,
        f.startedAt,
      ),
    );
    this.onOutcome?.();
  }

  /**
   * Before this run continues-as-new: children awaited by result here would report to a closed run,
   * so each is told to report by signal instead. A child that already closed cannot be told; its
   * result is on its way to this run and is waited for (at most SWITCH_GRACE_MS, after which the
   * next run's closed-children check fails it).
   */
  async switchToSignals(): Promise<void> {
    await this.allStarted();
    const keys = [...this.byResult].filter((key) => this.state.inFlight.has(key));
    await Promise.all(
      keys.map(async (key) => {
        try {
          // Its token goes with it: a child takes reportBySignal only from its parent.
          const token = this.state.inFlight.get(key)?.token;
          const child = getExternalWorkflowHandle(this.childId(key));
          await (token !== undefined
            ? child.signal(reportBySignalSignal, { token })
            : child.signal(reportBySignalSignal));
          this.byResult.delete(key);
        } catch {
          await condition(() => !this.state.inFlight.has(key), SWITCH_GRACE_MS);
        }
      }),
    );
  }

  /** Resolves when every issued start is recorded in history (or failed). */
  async allStarted(): Promise<void> {
    await Promise.all([...this.starting]);
  }

  /** Requests cancellation of one in-flight child, whichever run started it. */
  async cancel(childId: string): Promise<void> {
    if (patched(CANCEL_AFTER_START_PATCH)) await this.allStarted();
    await this.requestCancel(childId);
    await this.freeClosed([childId]);
  }

  /** Requests cancellation of every in-flight child; returns their workflow ids. */
  async cancelAll(): Promise<string[]> {
    await this.allStarted();
    await this.pages?.allStarted();
    const ids = [...[...this.state.inFlight.values()].map((f) => f.childId), ...[...this.state.pages.keys()]];
    await Promise.all(ids.map((id) => this.requestCancel(id)));
    await this.freeClosed(ids);
    return ids;
  }

  /**
   * Runs for the life of the batch run: every `intervalMs`, items in flight at least that long whose
   * workflow closed without reporting (terminated from the Web UI, timed out) are recorded failed, so
   * the batch neither hangs nor holds their slots. Costs a timer per interval, an activity only when
   * items have been in flight that long.
   */
  async watchUnreported(intervalMs: number): Promise<void> {
    try {
      for (;;) {
        await condition(
          () => this.state.inFlight.size > 0 || this.state.pages.size > 0 || this.state.ending !== undefined,
        );
        if (this.state.ending) return;
        await sleep(intervalMs);
        if (this.state.ending) return;
        const now = workflowNow();
        // Children awaited by result need no check: their result says when they closed.
        const old = [
          ...[...this.state.inFlight.values()].filter((f) => !this.byResult.has(f.key)),
          ...this.state.pages.values(),
        ].filter((f) => now - Date.parse(f.startedAt) >= intervalMs);
        if (old.length === 0) continue;
        const closed = await findClosedWorkflows({
          batchId: this.template.batchId,
          workflowIds: old.map((f) => f.childId),
        });
        await failClosedUnreported(this.state, this.pages, this.byResult, closed);
      }
    } catch (err) {
      // Cancellation of the batch ends the watch; anything else must not fail the batch.
      if (!isCancellation(err)) {
        log.warn('closed-item check stopped', { batchId: this.template.batchId, error: String(err) });
      }
    }
  }

  /**
   * The batch is ending: cancels every item and page still in flight and waits (at most `graceMs`)
   * for their outcomes and then for their workflows to close, so no item of an ended batch is still
   * Running in the Web UI. What did not confirm in time is recorded cancelled.
   */
  async stopAll(graceMs: number): Promise<void> {
    if (this.state.inFlight.size === 0 && this.state.pages.size === 0) return;
    const cancelled = await this.cancelAll();
    await condition(() => this.state.inFlight.size === 0 && this.state.pages.size === 0, graceMs);
    await this.awaitClosed(cancelled, graceMs);
    const why = 'did not confirm cancellation in time';
    for (const f of [...this.state.inFlight.values()]) {
      this.state.applyOutcome(unranOutcome(f, 'cancelled', FailureType.Cancelled, why, f.startedAt));
    }
    for (const page of [...this.state.pages.values()]) {
      await this.pages?.failUnreported(page, 'cancelled', FailureType.Cancelled, why);
    }
  }

  /** Waits (at most `timeoutMs`) until these children are closed, whatever their outcome. */
  async awaitClosed(workflowIds: string[], timeoutMs: number): Promise<void> {
    const open = await stillOpen(this.template.batchId, workflowIds, timeoutMs);
    if (open.length > 0) {
      log.warn('cancelled items still open when the batch ended', {
        batchId: this.template.batchId,
        open: open.slice(0, 20),
      });
    }
  }

  private async requestCancel(childId: string): Promise<void> {
    await getExternalWorkflowHandle(childId)
      .cancel()
      .catch((e: unknown) =>
        log.warn('cancel child failed', { batchId: this.template.batchId, childId, error: String(e) }),
      );
  }

  /**
   * A child that is closed but still in flight here closed without reporting (it was terminated, or
   * timed out) and never will: its slot is freed with a failed outcome so the batch does not wait for
   * it forever. A child that closed normally signalled before closing, and that signal is earlier in
   * this history than the activity result that saw it closed, so it is no longer in flight.
   */
  private async freeClosed(workflowIds: string[]): Promise<void> {
    if (workflowIds.length === 0) return;
    const open = new Set(await stillOpen(this.template.batchId, workflowIds, 0, workflowIds));
    await failClosedUnreported(
      this.state,
      this.pages,
      this.byResult,
      workflowIds.filter((id) => !open.has(id)),
    );
  }
}

// A lane is how a batch runs its items: one child workflow per item (item-lane.ts) or one per page of
// items (page-lane.ts). The batch loop (workflows/batch.ts) knows only this interface: it asks the
// lane to fill the window, waits, and ends; the lane owns its children in flight, their starts,
// their reports, their cancellation and what it carries across continue-as-new. What both lanes do
// with children alike (tracked starts, cancel requests, the check for children that closed without
// reporting, the stop at the end) is the base class here.
//
// Replay: Temporal replays a running batch's history against this code, and the order of the
// commands that coroutines issue within one workflow task depends on how many awaits each passes
// through. So every path here keeps the awaits of the code that recorded older histories (one
// ItemChildren object served both modes then): a wrapper that would add one is written as a plain
// function returning the inner promise, and a wait that once was `await undefined` still is.
import {
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  sleep,
} from '@temporalio/workflow';
import type { createActivities } from '../../activities';
import { bookkeeping } from '../activity-options';
import type { BatchState } from '../batch-state';
import type { CarriedState } from '../carried-state';
import { workflowNow } from '../clock';
import { hasPatch, type PatchName } from '../patches';
import type { Sender } from '../message-validation';
import type { ItemsCompleted } from '../messages';
import { StartTracker } from '../item-starts';
import { stillOpen } from '../workflows-open';
import type { ItemOutcome } from '../types';

/** Starts issued in one go before waiting for them to be recorded: keeps each workflow task small. */
export const MAX_STARTS_PER_TASK = 100;

const { findClosedWorkflows } = proxyActivities<ReturnType<typeof createActivities>>(
  bookkeeping({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  }),
);

/** What the batch loop lets a lane do now. */
export interface Gate {
  /** Items may start: not ending, not paused, items left, the failure policy not breached. */
  open(): boolean;
  /** History is long enough to continue-as-new: start nothing more in this run. */
  historyFull(): boolean;
}

/** A child's report, checked: counted, a stray (nobody holds that item), or ignored and why. */
export type Taken = 'applied' | 'stray' | { ignored: string };

/** The child that holds an item in flight, and the token its messages carry. */
export interface Holder {
  childId: string;
  token?: string;
}

export interface Lane {
  /** Slots held by what is in flight: never more than the concurrency. */
  readonly usedSlots: number;
  /** Items running now (for progress). */
  readonly running: number;
  /** Nothing in flight. */
  readonly idle: boolean;
  /** Something in flight must be told of a change (page slots, pause, rate, budget): wake the loop. */
  readonly wantsTurn: boolean;
  /**
   * While the batch is paused: the children that may still start items, because they have not
   * acknowledged the pause yet (empty once none may; always empty when only this run starts items).
   */
  pauseUnacknowledged(): string[];

  /** Starts what the window, the rate and the budget allow. */
  fill(gate: Gate): Promise<void>;
  /** An `itemCompleted` report from a child. */
  takeItemReport(outcome: ItemOutcome, sender: Sender): Taken;
  /** An `itemsCompleted` report from a page. */
  takePageReport(report: ItemsCompleted & { token?: string }): Taken;
  /** Who holds the item `key` (a page may report a block before it read the item: `childId`). */
  holderOf(key: string, childId?: string): Holder | undefined;
  /**
   * Cancels the item's own child if one is in flight; undefined, at once, when none is (the caller
   * goes on in the same turn: the order of commands histories recorded).
   */
  cancelRunning(key: string): Promise<void> | undefined;
  /**
   * Asks the page holding the item at `index` to cancel it: 'finished' when that page recorded it
   * already, undefined when no page holds it (at once, without a page lane).
   */
  cancelInPage(key: string, index: number): Promise<'cancelling' | 'finished' | undefined> | undefined;
  /** Runs for the life of the run: fails children that closed without reporting (terminated). */
  watchUnreported(intervalMs: number): Promise<void>;
  /**
   * Before continue-as-new, first: children awaited by result here are told to report by signal
   * (they would report to a closed run), after every start is recorded.
   */
  switchToSignals(): Promise<void>;
  /** Before continue-as-new, then: every page start recorded (undefined, at once, without pages). */
  pagesStarted(): Promise<void> | undefined;
  /** The batch is ending: cancels everything in flight and waits (at most `graceMs`) for it to stop. */
  stopAll(graceMs: number): Promise<void>;
  /** What is in flight, for the next run. */
  toCarried(): Pick<CarriedState, 'inFlight' | 'pages'>;
}

/** A child in flight, as both lanes record it. */
interface ChildRecord {
  childId: string;
  startedAt: string;
}

/** Children started, cancelled and watched alike, whether they hold an item or a page. */
export abstract class ChildLane<R extends ChildRecord> {
  /** Starts issued and not yet recorded: the run waits for them before it continues-as-new. */
  protected readonly starts = new StartTracker();
  private readonly decided = new Map<PatchName, boolean>();

  constructor(
    protected readonly state: BatchState,
    protected readonly batchId: string,
    /** Decisions fixed by a test instead of the run's history (unit tests run outside a workflow). */
    private readonly patches: Partial<Record<PatchName, boolean>> = {},
  ) {}

  /** Whether this run has the change `name` guards: decided once per run, at first use. */
  protected has(name: PatchName): boolean {
    let on = this.patches[name] ?? this.decided.get(name);
    if (on === undefined) {
      on = hasPatch(name);
      this.decided.set(name, on);
    }
    return on;
  }

  /**
   * Asked at every use, never kept: a run replayed from before the change answers false only up to
   * where its history recorded the marker, then true (the SDK's own rule for `patched`).
   */
  protected hasNow(name: PatchName): boolean {
    return this.patches[name] ?? hasPatch(name);
  }

  /** The records in flight. */
  protected abstract records(): Iterable<R>;
  /** Children that closed without reporting: their items are recorded failed, their slots freed. */
  protected abstract failClosed(closedIds: string[]): Promise<void>;
  /** Whether the closed-children check should look at this record (awaited results need none). */
  protected watched(_record: R): boolean {
    return true;
  }
  /** Records what did not confirm cancellation in time as cancelled. */
  protected abstract forceCancelled(why: string): Promise<void> | void;
  /**
   * The two waits for starts before cancelling everything, in the order they always were: the item
   * children's starts, then the pages' (an empty wait where a lane has none of that kind).
   */
  protected abstract itemStartsRecorded(): Promise<void>;
  abstract pagesStarted(): Promise<void> | undefined;

  get idle(): boolean {
    for (const _ of this.records()) return false;
    return true;
  }

  /** Resolves when every issued start is recorded in history (or failed). */
  allStarted(): Promise<void> {
    return this.starts.allStarted();
  }

  protected async requestCancel(childId: string): Promise<void> {
    await getExternalWorkflowHandle(childId)
      .cancel()
      .catch((e: unknown) =>
        log.warn('cancel child failed', { batchId: this.batchId, childId, error: String(e) }),
      );
  }

  /**
   * Runs for the life of the batch run: every `intervalMs`, children in flight at least that long
   * whose workflow closed without reporting (terminated from the Web UI, timed out) are recorded
   * failed, so the batch neither hangs nor holds their slots. Costs a timer per interval, an activity
   * only when children have been in flight that long.
   */
  async watchUnreported(intervalMs: number): Promise<void> {
    try {
      for (;;) {
        await condition(() => !this.idle || this.state.ending !== undefined);
        if (this.state.ending) return;
        await sleep(intervalMs);
        if (this.state.ending) return;
        const now = workflowNow();
        const old = [...this.records()].filter(
          (r) => this.watched(r) && now - Date.parse(r.startedAt) >= intervalMs,
        );
        if (old.length === 0) continue;
        const closed = await findClosedWorkflows({
          batchId: this.batchId,
          workflowIds: old.map((r) => r.childId),
        });
        await this.failClosed(closed);
      }
    } catch (err) {
      // Cancellation of the batch ends the watch; anything else must not fail the batch.
      if (!isCancellation(err)) {
        log.warn('closed-item check stopped', { batchId: this.batchId, error: String(err) });
      }
    }
  }

  /**
   * Cancels one child and, if it is already closed without having reported, frees its slot (a
   * child that closed normally reported before closing, earlier in this history).
   */
  protected async cancelChild(childId: string): Promise<void> {
    // Its start must be recorded first: a cancel request sent to a child not started yet finds no
    // workflow and was lost (the item ran to its end).
    if (this.hasNow('cancelAfterStart')) await this.allStarted();
    await this.requestCancel(childId);
    await this.freeClosed([childId]);
  }

  /**
   * Cancels every child still in flight and waits (at most `graceMs`) for their outcomes and then for
   * their workflows to close, so no item of an ended batch is still Running in the Web UI. What did
   * not confirm in time is recorded cancelled.
   */
  async stopAll(graceMs: number): Promise<void> {
    if (this.idle) return;
    const cancelled = await this.cancelAll();
    await condition(() => this.idle, graceMs);
    await this.awaitClosed(cancelled, graceMs);
    const forced = this.forceCancelled('did not confirm cancellation in time');
    if (forced) await forced;
  }

  /** Requests cancellation of every child in flight; returns their workflow ids. */
  private async cancelAll(): Promise<string[]> {
    await this.itemStartsRecorded();
    await this.pagesStarted();
    const ids = [...this.records()].map((r) => r.childId);
    await Promise.all(ids.map((id) => this.requestCancel(id)));
    await this.freeClosed(ids);
    return ids;
  }

  /** Waits (at most `timeoutMs`) until these children are closed, whatever their outcome. */
  private async awaitClosed(workflowIds: string[], timeoutMs: number): Promise<void> {
    const open = await stillOpen(this.batchId, workflowIds, timeoutMs);
    if (open.length > 0) {
      log.warn('cancelled items still open when the batch ended', {
        batchId: this.batchId,
        open: open.slice(0, 20),
      });
    }
  }

  private async freeClosed(workflowIds: string[]): Promise<void> {
    if (workflowIds.length === 0) return;
    const open = new Set(await stillOpen(this.batchId, workflowIds, 0, workflowIds));
    await this.failClosed(workflowIds.filter((id) => !open.has(id)));
  }
}

/** The message for a child that closed without reporting. */
export function closedWithoutReport(id: string): string {
  return `workflow ${id} closed without reporting an outcome (was it terminated?)`;
}

// A lane is how a batch runs its items: one child workflow per item (item-lane.ts) or one per page of
// items (page-lane.ts). The batch loop (workflows/batch.ts) knows only this interface: it asks the
// lane to fill the window, waits, and ends; the lane owns its children in flight, their starts,
// their reports, their cancellation and what it carries across continue-as-new. What both lanes do
// with children alike (tracked starts, cancel requests, the check for children that closed without
// reporting, the stop at the end) is the base class here.
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

  /** Starts what the window, the rate and the budget allow. */
  fill(gate: Gate): Promise<void>;
  /** An `itemCompleted` report from a child. */
  takeItemReport(outcome: ItemOutcome, sender: Sender): Taken;
  /** An `itemsCompleted` report from a page. */
  takePageReport(report: ItemsCompleted & { token?: string }): Taken;
  /** Who holds the item `key` (a page may report a block before it read the item: `childId`). */
  holderOf(key: string, childId?: string): Holder | undefined;
  /**
   * Cancels the item if something in flight holds it. Without `index` (the item not looked up yet)
   * only what the lane knows by key; with it, also a page holding that index. Undefined, at once,
   * when nothing holds it: the caller goes on in the same turn, so a running batch issues its
   * commands in the order it always did.
   */
  cancelItem(key: string, index?: number): Promise<'cancelling' | 'finished' | undefined> | undefined;
  /** Runs for the life of the run: fails children that closed without reporting (terminated). */
  watchUnreported(intervalMs: number): Promise<void>;
  /** Before continue-as-new: every start recorded, every report routed to the next run. */
  beforeContinueAsNew(): Promise<void>;
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

  /** The records in flight. */
  protected abstract records(): Iterable<R>;
  /** Children that closed without reporting: their items are recorded failed, their slots freed. */
  protected abstract failClosed(closedIds: string[]): Promise<void>;
  /** Whether the closed-children check should look at this record (awaited results need none). */
  protected watched(_record: R): boolean {
    return true;
  }
  /** Records what did not confirm cancellation in time as cancelled. */
  protected abstract forceCancelled(why: string): Promise<void>;

  get idle(): boolean {
    for (const _ of this.records()) return false;
    return true;
  }

  /** Resolves when every issued start is recorded in history (or failed). */
  async allStarted(): Promise<void> {
    await this.starts.allStarted();
  }

  protected async requestCancel(childId: string): Promise<void> {
    await getExternalWorkflowHandle(childId)
      .cancel()
      .catch((e: unknown) =>
        log.warn('cancel child failed', { batchId: this.batchId, childId, error: String(e) }),
      );
  }

  /**
   * Cancelling one item waits until its holder's start is recorded: a cancel request sent to a child
   * not started yet finds no workflow and was lost (the item ran to its end).
   */
  protected async startsRecordedBeforeCancel(): Promise<void> {
    if (this.has('cancelAfterStart')) await this.allStarted();
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
    await this.startsRecordedBeforeCancel();
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
    await this.allStarted();
    const ids = [...this.records()].map((r) => r.childId);
    await Promise.all(ids.map((id) => this.requestCancel(id)));
    await this.freeClosed(ids);
    await condition(() => this.idle, graceMs);
    const open = await stillOpen(this.batchId, ids, graceMs);
    if (open.length > 0) {
      log.warn('cancelled items still open when the batch ended', {
        batchId: this.batchId,
        open: open.slice(0, 20),
      });
    }
    await this.forceCancelled('did not confirm cancellation in time');
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

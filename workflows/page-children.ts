// Page mode (`itemsPerChild` > 1): the parent starts one page child per run of N consecutive items and
// hands out the batch's concurrency as slots, so the limit counts items across all pages. Slots a
// page can no longer use come back with its reports; pause, rate and lowered limits reach the pages
// as `pageControl` signals, sent only when what a page may do changes.
import {
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import { readPage } from './activity-options';
import { pageUnreported, type BatchState, type InFlightPage } from './batch-state';
import { grantAllowances } from './page-slots';
import { workflowNowIso } from './clock';
import { averageCost } from './cost';
import type { ItemRunSpec } from './item-run';
import { pageCancelItemSignal, pageControlSignal, type PageControl } from './messages';
import { pageWorkflow } from './page';
import { senderToken, tokensEnabled } from './message-validation';
import { batchIdKey } from './search-attributes';
import type { ItemOutcome, StagedSourceRef } from './types';
import { unranOutcome } from './outcomes';
import { FailureType } from './failure-types';
import { CANCEL_AFTER_START_PATCH } from './item-children';

/** Marks runs that start the next page ahead, with no slot. */
const STANDBY_PATCH = 'page-standby';
/**
 * Marks runs where a page holds at most half the concurrency while another page could run items, and
 * where budget allowance a page has not committed can be taken back for another page.
 */
const SLOT_SPLIT_PATCH = 'page-slot-split';

/** Starts page children, hands out their slots, and sends them control and item cancellations. */
export class PageChildren {
  private readonly starting = new Set<Promise<void>>();
  private standby: boolean | undefined;
  private split: boolean | undefined;
  private tokens: boolean | undefined;

  constructor(
    private readonly state: BatchState,
    private readonly spec: ItemRunSpec,
    private readonly source: StagedSourceRef,
    readonly itemsPerChild: number,
    /** The batch's message secret (BatchInput.messageSecret): never in a page's input. */
    private readonly messageSecret?: string,
  ) {}

  /** The control a page should have now. */
  private desired(page: InFlightPage): PageControl {
    const { rate, concurrency, budget } = this.state.limits;
    return {
      slots: page.slots,
      paused: this.state.paused || this.state.ending !== undefined,
      // Each page paces at its share of the rate, so all pages together never exceed it.
      ratePerSec: rate ? (rate * Math.max(page.slots, 1)) / concurrency : undefined,
      ...(budget !== undefined
        ? { costAllowance: page.allowance ?? 0, avgCost: averageCost(this.state.stats) }
        : {}),
      ...(page.reclaim ? { reclaim: page.reclaim.seq } : {}),
    };
  }

  private needsControl(page: InFlightPage): boolean {
    const want = this.desired(page);
    const sent = page.sent;
    return (
      want.paused !== sent.paused ||
      want.ratePerSec !== sent.ratePerSec ||
      // Only a larger allowance is news: a smaller one is taken back from a page that cannot use it.
      (want.costAllowance ?? 0) > (sent.costAllowance ?? 0) ||
      (want.costAllowance === undefined) !== (sent.costAllowance === undefined) ||
      want.slots > sent.slots ||
      (want.reclaim !== undefined && want.reclaim !== sent.reclaim) ||
      // Fewer slots than granted matter only while the page could still use them.
      (want.slots < sent.slots && want.slots < page.unfinished)
    );
  }

  /**
   * The most slots `page` may hold. While another page could run items, a page holds at most half
   * the concurrency: when one page's last items end, the slots they free wait for its report and
   * the parent's hand-over, and the other page keeps running meanwhile. The last page takes all.
   * `cursor`: where the next page would start (after `page`, for a page being started).
   */
  slotCap(page?: InFlightPage, cursor = this.state.cursor): number {
    const { concurrency } = this.state.limits;
    if (!this.splitAllowed()) return concurrency;
    let others = cursor < this.state.total;
    for (const p of this.state.pages.values()) {
      if (others) break;
      others = p !== page && pageUnreported(p) > 0;
    }
    return others ? Math.ceil(concurrency / 2) : concurrency;
  }

  /** Slots `page` could use now: its unfinished items, within its cap. */
  private slotsWanted(page: InFlightPage): number {
    return Math.min(page.unfinished, pageUnreported(page), this.slotCap(page));
  }

  /** Free slots and a page that could use them (e.g. the page started ahead, once the cursor is at the end). */
  private get slotsToGive(): boolean {
    if (this.state.paused || this.state.usedSlots >= this.state.limits.concurrency) return false;
    for (const p of this.state.pages.values()) {
      if (p.slots < this.slotsWanted(p)) return true;
    }
    return false;
  }

  /** A page in flight holds no slot yet (started ahead, or its slots were taken back). */
  get hasStandby(): boolean {
    for (const p of this.state.pages.values()) if (p.slots === 0 && pageUnreported(p) > 0) return true;
    return false;
  }

  /** Sharing slots between pages (and taking back budget allowance between them) is new: decided once per run. */
  private splitAllowed(): boolean {
    this.split ??= patched(SLOT_SPLIT_PATCH);
    return this.split;
  }

  /** Starting pages ahead is new: runs from before it replay without (decided once per run). */
  standbyAllowed(): boolean {
    this.standby ??= patched(STANDBY_PATCH);
    return this.standby;
  }

  /** True when some page must be told of new slots, a pause or a new rate, or waits for budget. */
  get controlsPending(): boolean {
    if (this.slotsToGive) return true;
    const granting = this.state.limits.budget !== undefined && !this.state.paused;
    for (const p of this.state.pages.values()) {
      const need = p.need !== undefined && !p.needWaits && !p.reclaim && p.slots > 0;
      if (this.needsControl(p) || (granting && need)) return true;
    }
    return false;
  }

  /**
   * Fits the pages' slots to the concurrency: lowered limits take slots back (largest pages first),
   * free slots go to pages that have more items than slots. Then tells each page what changed.
   */
  async rebalance(): Promise<void> {
    const pages = [...this.state.pages.values()];
    if (this.state.limits.budget !== undefined)
      grantAllowances(this.state, this.state.limits.budget, this.splitAllowed());
    let over = this.state.usedSlots - this.state.limits.concurrency;
    for (const p of [...pages].sort((a, b) => b.slots - a.slots)) {
      if (over <= 0) break;
      const take = Math.min(over, p.slots);
      p.slots -= take;
      over -= take;
    }
    let free = this.state.paused ? 0 : this.state.limits.concurrency - this.state.usedSlots;
    for (const p of pages) {
      if (free <= 0) break;
      const add = Math.min(free, this.slotsWanted(p) - p.slots);
      if (add > 0) {
        p.slots += add;
        free -= add;
      }
    }
    await Promise.all(
      pages
        .filter((p) => this.needsControl(p))
        .map(async (p) => {
          const control = this.desired(p);
          p.sent = control;
          if (!control.paused) p.paused = false; // it may start items again from now on
          await getExternalWorkflowHandle(p.childId)
            .signal(pageControlSignal, withToken(control, p.token))
            .catch((err: unknown) =>
              log.warn('could not update a page', { childId: p.childId, error: String(err) }),
            );
        }),
    );
  }

  /** Starts the page of `count` items from `first` with `slots` of them allowed to run at once. */
  start(first: number, count: number, slots: number): void {
    const childId = `${this.spec.batchId}/page-${first}`;
    const done = [...'0'.repeat(count)];
    const skip: string[] = [];
    for (const [key, index] of Object.entries(this.state.cancelledPending)) {
      if (index >= first && index < first + count) {
        done[index - first] = '1'; // counted when it was cancelled
        skip.push(key);
      }
    }
    const page: InFlightPage = {
      childId,
      first,
      count,
      slots,
      unfinished: count - skip.length,
      done: done.join(''),
      startedAt: workflowNowIso(),
      sent: { slots, paused: false },
    };
    // Its reports must carry this token, and so must the parent's messages to it: a signal forged by
    // another client cannot know it.
    this.tokens ??= tokensEnabled();
    const token = senderToken(this.tokens, this.messageSecret, childId);
    if (token !== undefined) page.token = token;
    const budget = this.state.limits.budget;
    if (budget !== undefined) {
      // Its share of what the budget has left; it asks for more when its next item does not fit.
      const headroom = Math.max(0, budget - this.state.reservedCost);
      page.allowance = (headroom * slots) / this.state.limits.concurrency;
    }
    page.sent = this.desired(page);
    this.state.pages.set(childId, page);
    const p = CancellationScope.nonCancellable(() =>
      startChild(pageWorkflow, {
        workflowId: childId,
        args: [
          {
            ...this.spec,
            parentWorkflowId: workflowInfo().workflowId,
            source: this.source,
            first,
            count,
            control: page.sent,
            skip,
            ...(token !== undefined ? { reportToken: token } : {}),
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        typedSearchAttributes: [{ key: batchIdKey, value: this.spec.batchId }],
        staticSummary: `items ${first + 1}–${first + count} of batch ${this.spec.batchId}`,
      }),
    ).then(
      () => undefined,
      (err: unknown) => this.failUnreported(page, 'failed', FailureType.ChildStartFailed, errorText(err)),
    );
    this.starting.add(p);
    void p.finally(() => this.starting.delete(p));
  }

  async allStarted(): Promise<void> {
    await Promise.all([...this.starting]);
  }

  /** Asks the page holding the item at `index` to cancel it; false when no page in flight holds it. */
  async cancelItem(key: string, index: number): Promise<'cancelling' | 'finished' | undefined> {
    for (const p of this.state.pages.values()) {
      if (index < p.first || index >= p.first + p.count) continue;
      if (p.done[index - p.first] === '1') return 'finished';
      // A page whose start is not recorded yet cannot take the signal (see CANCEL_AFTER_START_PATCH).
      if (patched(CANCEL_AFTER_START_PATCH)) await this.allStarted();
      await getExternalWorkflowHandle(p.childId).signal(pageCancelItemSignal, withToken({ key }, p.token));
      return 'cancelling';
    }
    return undefined;
  }

  /**
   * Records every item of a closed page that it never reported as failed (the page was terminated,
   * timed out or never started), reading the page's keys from the staged source.
   */
  async failUnreported(
    page: InFlightPage,
    status: 'failed' | 'cancelled',
    errorType: string,
    message: string,
  ): Promise<void> {
    const items = [];
    for (let offset = page.first; offset < page.first + page.count;) {
      const got = await readPage({
        batchId: this.spec.batchId,
        source: this.source,
        offset,
        limit: page.first + page.count - offset,
      });
      if (got.length === 0) break;
      items.push(...got);
      offset += got.length;
    }
    const current = this.state.pages.get(page.childId);
    if (!current) return;
    const outcomes: ItemOutcome[] = items
      .filter((i) => current.done[i.index - current.first] !== '1')
      .map((i) => unranOutcome(i, status, errorType, message, current.startedAt));
    this.state.applyPageOutcomes(page.childId, outcomes, 0);
    // Items the source no longer has cannot be named; the page leaves the window all the same.
    this.state.pages.delete(page.childId);
  }
}

function withToken<T extends object>(message: T, token: string | undefined): T & { token?: string } {
  return token !== undefined ? { ...message, token } : message;
}

function errorText(err: unknown): string {
  if (isCancellation(err)) return 'the page was cancelled before it started';
  return err instanceof Error ? err.message : String(err);
}

// The page lane (`itemsPerChild` > 1): one page child (workflows/page.ts) per run of N consecutive
// items, and the batch's concurrency handed out as slots, so the limit counts items across all
// pages. A page reads its own items; the parent knows each page in flight by its range, the slots it
// holds, which of its items are recorded, and (with a budget) the allowance it may commit. Slots a
// page can no longer use come back with its reports; pause, rate, lowered limits and allowance
// reach the pages as `pageControl` signals, sent only when what a page may do changes.
import {
  getExternalWorkflowHandle,
  isCancellation,
  log,
  ParentClosePolicy,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import { readPage } from '../activity-options';
import type { BatchState } from '../batch-state';
import type { BatchInput } from '../batch-input';
import { workflowNowIso } from '../clock';
import { averageCost } from '../cost';
import { FailureType, ITEM_WORKFLOW_CLOSED } from '../failure-types';
import type { ItemRunSpec } from '../item-run';
import { pageCancelItemSignal, pageControlSignal, type ItemsCompleted, type PageControl } from '../messages';
import { fromHolder, senderToken, tokensEnabled, type Sender } from '../message-validation';
import { unranOutcome } from '../outcomes';
import { pageWorkflow } from '../page';
import type { InFlightPage } from '../carried-state';
import { StartTracker } from '../item-starts';
import type { PatchName } from '../patches';
import { batchIdKey } from '../search-attributes';
import type { ItemOutcome } from '../types';
import {
  allowanceControl,
  allowanceControlIsNews,
  allowanceOf,
  anotherPageReported,
  committedCost,
  grantRound,
  initialGrant,
  needIsNews,
  needOf,
  pageReported,
  reservedCost,
  setAllowance,
  type BudgetLedger,
  type PageStanding,
} from './page-allowance';
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

/** No item child is ever started in this lane: its waits for their starts are empty. */
const NO_STARTS = new StartTracker();

export class PageLane extends ChildLane<InFlightPage> implements Lane {
  private readonly pages: Map<string, InFlightPage>;
  private tokens: boolean | undefined;

  constructor(
    state: BatchState,
    private readonly input: Pick<BatchInput, 'batchId' | 'source' | 'messageSecret'>,
    private readonly spec: ItemRunSpec,
    readonly itemsPerChild: number,
    carried: InFlightPage[],
    patches?: Partial<Record<PatchName, boolean>>,
  ) {
    super(state, input.batchId, patches);
    this.pages = new Map(carried.map((p) => [p.childId, p]));
  }

  protected records(): Iterable<InFlightPage> {
    return this.pages.values();
  }

  /** The pages in flight (read-only view, for tests and the budget's plan). */
  get inFlight(): ReadonlyMap<string, InFlightPage> {
    return this.pages;
  }

  get usedSlots(): number {
    let used = 0;
    for (const p of this.pages.values()) used += p.slots;
    return used;
  }

  /** Items running now: as many as each page may run, at most those it has left. */
  get running(): number {
    let running = 0;
    for (const p of this.pages.values()) {
      // A page that said it starts no more (paused, or waiting for budget) runs what it last said.
      const held = p.paused === true || needOf(allowanceOf(p)) !== undefined;
      running += Math.min(held ? (p.running ?? 0) : p.slots, pageUnreported(p));
    }
    return running;
  }

  /** Spent cost plus what pages committed beyond it (running items, outcomes not reported yet). */
  get committedCost(): number {
    return committedCost(this.state.stats.cost, this.standings());
  }

  /** Committed cost plus what pages may still commit within their allowances: never above the budget. */
  get reservedCost(): number {
    return reservedCost(this.state.stats.cost, this.standings());
  }

  /** The pages as the budget sees them (workflows/lanes/page-allowance.ts). */
  private standings(): PageStanding[] {
    return [...this.pages.values()].map((p) => ({ allowance: allowanceOf(p), committed: p, slots: p.slots }));
  }

  /** The budget's figures, when the batch has a budget (a page lane has no item children of its own). */
  private ledger(): BudgetLedger | undefined {
    const { budget, concurrency } = this.state.limits;
    return budget === undefined
      ? undefined
      : { budget, concurrency, committedOutsidePages: this.state.stats.cost };
  }

  // ---- filling the window ---------------------------------------------------------------------

  /**
   * Starts pages for the free slots. A plain wrapper, on purpose: the batch loop always awaited the
   * page start loop through one more async function (replay keeps the awaits; see lane.ts).
   */
  async fill(gate: Gate): Promise<void> {
    return this.fillPages(gate);
  }

  /** Slots to the pages in flight first, then new pages for the free slots. */
  private async fillPages(gate: Gate): Promise<void> {
    const state = this.state;
    await this.rebalance();
    let issued = 0;
    while (gate.open() && this.usedSlots < state.limits.concurrency && !gate.historyFull()) {
      const count = Math.min(this.itemsPerChild, state.total - state.cursor);
      const free = state.limits.concurrency - this.usedSlots;
      this.start(state.cursor, count, Math.min(free, count, this.slotCap(undefined, state.cursor + count)));
      state.advanceTo(state.cursor + count);
      if (++issued >= MAX_STARTS_PER_TASK) {
        await this.allStarted();
        issued = 0;
      }
    }
    // Every slot is taken: the next page starts now with none, reads its items and waits, so slots
    // freed at the end of a page go to items ready to run, not to a page still starting.
    const full = this.usedSlots >= state.limits.concurrency;
    if (full && gate.open() && !gate.historyFull() && !this.hasStandby && this.has('pageStandby')) {
      this.start(state.cursor, Math.min(this.itemsPerChild, state.total - state.cursor), 0);
      state.advanceTo(state.cursor + this.itemsPerChild);
    }
  }

  /**
   * The most slots `page` may hold. While another page could run items, a page holds at most half
   * the concurrency: when one page's last items end, the slots they free wait for its report and
   * the parent's hand-over, and the other page keeps running meanwhile. The last page takes all.
   * `cursor`: where the next page would start (after `page`, for a page being started).
   */
  slotCap(page?: InFlightPage, cursor = this.state.cursor): number {
    const { concurrency } = this.state.limits;
    if (!this.has('pageSlotSplit')) return concurrency;
    let others = cursor < this.state.total;
    for (const p of this.pages.values()) {
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
    if (this.state.paused || this.usedSlots >= this.state.limits.concurrency) return false;
    for (const p of this.pages.values()) {
      if (p.slots < this.slotsWanted(p)) return true;
    }
    return false;
  }

  /** A page in flight holds no slot yet (started ahead, or its slots were taken back). */
  get hasStandby(): boolean {
    for (const p of this.pages.values()) if (p.slots === 0 && pageUnreported(p) > 0) return true;
    return false;
  }

  /** True when some page must be told of new slots, a pause or a new rate, or waits for budget. */
  get wantsTurn(): boolean {
    if (this.slotsToGive) return true;
    const granting = this.state.limits.budget !== undefined && !this.state.paused;
    for (const p of this.pages.values()) {
      if (this.needsControl(p) || (granting && needIsNews(allowanceOf(p), p.slots))) return true;
    }
    return false;
  }

  /**
   * Pages that may still start items although the batch is paused: each starts none once it has
   * seen the pause, and says so in its next report (`paused: true`; workflows/page.ts).
   */
  pauseUnacknowledged(): string[] {
    if (!this.state.paused) return [];
    return [...this.pages.values()].filter((p) => p.paused !== true).map((p) => p.childId);
  }

  /**
   * Fits the pages' slots to the concurrency: lowered limits take slots back (largest pages first),
   * free slots go to pages that have more items than slots. Pure bookkeeping; `rebalance` also tells
   * the pages.
   */
  planSlots(): void {
    const pages = [...this.pages.values()];
    const ledger = this.ledger();
    if (ledger !== undefined) {
      const before = this.standings();
      const mayReclaim = this.has('pageSlotSplit');
      const round = grantRound({ ...ledger, paused: this.state.paused, mayReclaim }, before);
      pages.forEach((p, i) => {
        if (round.allowances[i] !== before[i]!.allowance) setAllowance(p, round.allowances[i]!);
      });
      if (round.pause) this.state.pauseForBudget(ledger.budget, round.pause, this.committedCost);
    }
    let over = this.usedSlots - this.state.limits.concurrency;
    for (const p of [...pages].sort((a, b) => b.slots - a.slots)) {
      if (over <= 0) break;
      const take = Math.min(over, p.slots);
      p.slots -= take;
      over -= take;
    }
    let free = this.state.paused ? 0 : this.state.limits.concurrency - this.usedSlots;
    for (const p of pages) {
      if (free <= 0) break;
      const add = Math.min(free, this.slotsWanted(p) - p.slots);
      if (add > 0) {
        p.slots += add;
        free -= add;
      }
    }
  }

  /** Plans the slots, then tells each page what changed for it. */
  private async rebalance(): Promise<void> {
    this.planSlots();
    await Promise.all(
      [...this.pages.values()]
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

  /** The control a page should have now. */
  private desired(page: InFlightPage): PageControl {
    const { rate, concurrency, budget } = this.state.limits;
    return {
      slots: page.slots,
      paused: this.state.paused || this.state.ending !== undefined,
      // Each page paces at its share of the rate, so all pages together never exceed it.
      ratePerSec: rate ? (rate * Math.max(page.slots, 1)) / concurrency : undefined,
      ...allowanceControl(
        allowanceOf(page),
        budget !== undefined ? averageCost(this.state.stats) : undefined,
      ),
    };
  }

  private needsControl(page: InFlightPage): boolean {
    const want = this.desired(page);
    const sent = page.sent;
    return (
      want.paused !== sent.paused ||
      want.ratePerSec !== sent.ratePerSec ||
      allowanceControlIsNews(want, sent) ||
      want.slots > sent.slots ||
      // Fewer slots than granted matter only while the page could still use them.
      (want.slots < sent.slots && want.slots < page.unfinished)
    );
  }

  /** Starts the page of `count` items from `first` with `slots` of them allowed to run at once. */
  private start(first: number, count: number, slots: number): void {
    const childId = `${this.batchId}/page-${first}`;
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
    const token = senderToken(this.tokens, this.input.messageSecret, childId);
    if (token !== undefined) page.token = token;
    // Its share of what the budget has left; it asks for more when its next item does not fit.
    setAllowance(page, initialGrant(this.ledger(), this.standings(), slots));
    page.sent = this.desired(page);
    this.pages.set(childId, page);
    this.starts.track(
      () =>
        startChild(pageWorkflow, {
          workflowId: childId,
          args: [
            {
              ...this.spec,
              parentWorkflowId: workflowInfo().workflowId,
              source: this.input.source,
              first,
              count,
              control: page.sent,
              skip,
              ...(token !== undefined ? { reportToken: token } : {}),
            },
          ],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          ...childTaskTimeout(this.spec),
          typedSearchAttributes: [{ key: batchIdKey, value: this.batchId }],
          staticSummary: `items ${first + 1}–${first + count} of batch ${this.batchId}`,
        }),
      () => undefined,
      (err: unknown) => this.failUnreported(page, 'failed', FailureType.ChildStartFailed, errorText(err)),
    );
  }

  // ---- reports ------------------------------------------------------------------------------

  takeItemReport(_outcome: ItemOutcome, _sender: Sender): Taken {
    return 'stray'; // no item has a child of its own in this lane
  }

  takePageReport(report: ItemsCompleted & { token?: string }): Taken {
    const { childId, token, unfinished } = report;
    const page = this.pages.get(childId);
    if (page && (!fromHolder(page, { childId, token }) || unfinished > page.count)) {
      return { ignored: 'not sent by a page of this batch' };
    }
    return this.applyReport(childId, report.outcomes, unfinished, report.cost, report) ? 'applied' : 'stray';
  }

  /**
   * Applies a page's batch of outcomes; an outcome already recorded (a repeated signal) is ignored.
   * The page's slots shrink to what it can still use; a fully reported page leaves the window.
   */
  applyReport(
    childId: string,
    outcomes: ItemOutcome[],
    unfinished: number,
    cost?: ItemsCompleted['cost'],
    report: { running?: number; paused?: boolean; ack?: number } = {},
  ): boolean {
    const page = this.pages.get(childId);
    if (!page) return false;
    const done = page.done.split('');
    const recordedCosts: (number | undefined)[] = [];
    for (const o of outcomes) {
      const at = o.index - page.first;
      if (at < 0 || at >= page.count || done[at] === '1') continue;
      done[at] = '1';
      recordedCosts.push(o.cost);
      this.state.record(o);
    }
    page.done = done.join('');
    page.unfinished = unfinished;
    page.running = report.running;
    // A report sent before the page saw a resume says nothing about the pause that may follow it.
    page.paused = report.paused === true && !page.sent.paused ? false : report.paused;
    // Its cost, its need, an acknowledged reclaim, allowance given back (page-allowance.ts).
    const { running, ack } = report;
    const next = pageReported(allowanceOf(page), page, { recordedCosts, unfinished, cost, running, ack });
    setAllowance(page, next.allowance);
    delete page.spent;
    delete page.pendingCost;
    Object.assign(page, next.committed);
    page.slots = Math.min(page.slots, Math.max(unfinished, 0));
    if (pageUnreported(page) === 0) this.pages.delete(childId);
    // A page waiting for budget other pages held is reconsidered after any page's report.
    for (const p of this.pages.values()) if (p !== page) setAllowance(p, anotherPageReported(allowanceOf(p)));
    return true;
  }

  /** The page that holds the item (its own child id may name it before the page read the item). */
  holderOf(_key: string, childId?: string): Holder | undefined {
    return childId !== undefined ? this.pages.get(childId) : undefined;
  }

  /** Asks the page holding the item at `index` to cancel it; undefined when no page in flight holds it. */
  cancelRunning(): undefined {
    return undefined; // no item has a child of its own in this lane
  }

  async cancelInPage(key: string, index: number): Promise<'cancelling' | 'finished' | undefined> {
    for (const p of this.pages.values()) {
      if (index < p.first || index >= p.first + p.count) continue;
      if (p.done[index - p.first] === '1') return 'finished';
      // A page whose start is not recorded yet cannot take the signal.
      if (this.hasNow('cancelAfterStart')) await this.allStarted();
      await getExternalWorkflowHandle(p.childId).signal(pageCancelItemSignal, withToken({ key }, p.token));
      return 'cancelling';
    }
    return undefined;
  }

  // ---- pages that end without reporting --------------------------------------------------------

  protected async failClosed(closedIds: string[]): Promise<void> {
    const closed = new Set(closedIds);
    for (const page of [...this.pages.values()]) {
      if (closed.has(page.childId)) {
        await this.failUnreported(page, 'failed', ITEM_WORKFLOW_CLOSED, closedWithoutReport(page.childId));
      }
    }
  }

  protected async forceCancelled(why: string): Promise<void> {
    for (const page of [...this.pages.values()]) {
      await this.failUnreported(page, 'cancelled', FailureType.Cancelled, why);
    }
  }

  /**
   * Records every item of a closed page that it never reported (the page was terminated, timed out,
   * never started, or did not confirm its cancellation), reading the page's keys from the source.
   */
  private async failUnreported(
    page: InFlightPage,
    status: 'failed' | 'cancelled',
    errorType: string,
    message: string,
  ): Promise<void> {
    const items = [];
    for (let offset = page.first; offset < page.first + page.count;) {
      const got = await readPage({
        batchId: this.batchId,
        source: this.input.source,
        offset,
        limit: page.first + page.count - offset,
      });
      if (got.length === 0) break;
      items.push(...got);
      offset += got.length;
    }
    const current = this.pages.get(page.childId);
    if (!current) return;
    const outcomes: ItemOutcome[] = items
      .filter((i) => current.done[i.index - current.first] !== '1')
      .map((i) => unranOutcome(i, status, errorType, message, current.startedAt));
    this.applyReport(page.childId, outcomes, 0);
    // Items the source no longer has cannot be named; the page leaves the window all the same.
    this.pages.delete(page.childId);
  }

  /** Pages always report by signal: nothing to switch (the waits of an empty item-children switch). */
  async switchToSignals(): Promise<void> {
    await NO_STARTS.allStarted();
    await Promise.all([]);
  }

  protected itemStartsRecorded(): Promise<void> {
    return NO_STARTS.allStarted();
  }

  pagesStarted(): Promise<void> {
    return this.allStarted();
  }

  toCarried(): { inFlight: []; pages: InFlightPage[] } {
    return { inFlight: [], pages: [...this.pages.values()] };
  }
}

function withToken<T extends object>(message: T, token: string | undefined): T & { token?: string } {
  return token !== undefined ? { ...message, token } : message;
}

function errorText(err: unknown): string {
  if (isCancellation(err)) return 'the page was cancelled before it started';
  return err instanceof Error ? err.message : String(err);
}

/** Items of a page whose outcome is not recorded yet. */
export function pageUnreported(p: InFlightPage): number {
  let n = 0;
  for (const c of p.done) if (c !== '1') n += 1;
  return n;
}

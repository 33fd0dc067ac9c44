// Signals, queries and updates of durabatch workflows, shared by workflows and the client so both
// sides agree on names and payload shapes. Descriptions show up in the Temporal Web UI.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { MAX_CONCURRENCY, MAX_RATE } from './limits';
import type { RunnerReport, RunnerView } from './runner-protocol';
import type { BatchProgress, FailureRecord, ItemOutcome, Limits } from './types';

/** Child → parent: an item reached a terminal state (sent on success, failure and cancellation). */
export const itemCompletedSignal = defineSignal<[ItemReport]>('itemCompleted');

/**
 * Who sent a child's report: its workflow id and the token its parent gave it in its input. Anyone
 * can signal a batch by name; the parent takes a report only from the child that holds the item.
 */
export interface ChildSender {
  childId?: string;
  token?: string;
}

/** An item child's outcome report (the outcome, and who sent it). */
export type ItemReport = ItemOutcome & ChildSender;

/**
 * Child → parent: the item cannot run on this worker through no fault of its own (a module that does
 * not import): the parent pauses the batch with this reason; the child waits for `retryItem`.
 */
export const itemBlockedSignal = defineSignal<[ItemBlocked]>('itemBlocked');

export interface ItemBlocked {
  key: string;
  errorType: string;
  errorMessage: string;
  /** The page child holding the item (page mode); absent: the item's own child. */
  childId?: string;
  /** The token the parent gave the sender (see ChildSender). */
  token?: string;
}

/** Page child → parent: a batch of its items' outcomes, and how many of its items are unfinished. */
export const itemsCompletedSignal = defineSignal<[ItemsCompleted]>('itemsCompleted');

export interface ItemsCompleted {
  childId: string;
  outcomes: ItemOutcome[];
  /** Items of the page still running or not started: the slots it can still use. */
  unfinished: number;
  /** Items of the page running right now. */
  running?: number;
  /** The page is paused: it starts no item until told otherwise. */
  paused?: boolean;
  /** With a budget: the page's cost so far (all its finished items) and expected for its running ones. */
  cost?: PageCost;
  /** The last `reclaim` of a pageControl this page has applied: `cost` is fresh since then. */
  ack?: number;
  /** The token the parent gave this page (see ChildSender). */
  token?: string;
}

export interface PageCost {
  spent: number;
  inflight: number;
  /** The next item's expected cost, when the page's allowance does not cover it (it waits). */
  need?: number;
  needKey?: string;
}

/** Parent → page child: how many of its items may run at once, paused or not, and its share of the rate. */
export const pageControlSignal = defineSignal<[PageControl]>('pageControl');

export interface PageControl {
  slots: number;
  paused: boolean;
  /** Items started per second by this page (its share of the batch's rate); absent = unpaced. */
  ratePerSec?: number;
  /** With a budget: the total cost this page may commit (spent + expected of running items). */
  costAllowance?: number;
  /** The batch's average cost per finished item, for items whose cost is known only afterwards. */
  avgCost?: number;
  /**
   * The parent takes back allowance this page has not committed, for another page: report now, with
   * `ack` set to this number (until then the parent counts the old allowance as still in use).
   */
  reclaim?: number;
  /** The page's token: a page takes control only from its parent (see ChildSender). */
  token?: string;
}

/** Parent → page child: cancel one of its items (running: its activity; not started: skipped). */
export const pageCancelItemSignal = defineSignal<[{ key: string; token?: string }]>('pageCancelItem');

/**
 * Runner activity → its page: finished items, and what the runner applied and runs
 * (`--item-execution runner`, workflows/runner-protocol.ts).
 */
export const runnerReportSignal = defineSignal<[RunnerReport]>('runnerReport');

/** Runner activity → its page: what it may do now (limits, pause, cancels; the items left if `todo`). */
export const pageRunnerQuery = defineQuery<RunnerView, [{ todo?: boolean }?]>('pageRunner');

/**
 * Parent → an item child that reports by its result: the parent run that awaits that result is about
 * to continue-as-new, so report the outcome by `itemCompleted` signal to the workflow id instead.
 */
export const reportBySignalSignal = defineSignal<[ParentToken?]>('reportBySignal');

/** The child's token, on the parent's messages to it (absent for children started before tokens). */
export interface ParentToken {
  token?: string;
}

/** Parent → a blocked child: the batch was resumed, run the blocked step again. */
export const retryItemSignal = defineSignal<[ParentToken?]>('retryItem');

/** Stop starting new items; items in flight finish. Payload: `{ "reason": "..." }` (optional). */
export const pauseSignal = defineSignal<[{ reason?: string }?]>('pause');

/** Start new items again after a pause. Payload: none, or `{}`. */
export const resumeSignal = defineSignal<[]>('resume');

/** The status object (`status --json`, docs/cli.md); counts always add up to `total`. */
export const progressQuery = defineQuery<BatchProgress>('progress');

/**
 * Where the next outcome to read lies: page `page` of the result pages, line `line` of it. Outcomes
 * not yet written lie where they will be written: the i-th unwritten one at page
 * `resultsPage + floor(i / pageSize)`, line `i % pageSize` (pages are always cut from the head of
 * the queue), so a position never changes once an outcome is recorded.
 */
export interface OutcomePosition {
  page: number;
  line: number;
}

/** At most this many outcomes per `outcomesSince` answer: it stays far below the payload limit. */
export const MAX_OUTCOMES_PER_QUERY = 500;

/** The `outcomesSince` answer: the status, and the recorded outcomes not yet in a result page from `from` on. */
export interface OutcomesSince {
  progress: BatchProgress;
  /** Result pages written: pages below it are final on disk; the tail starts at this page. */
  resultsPage: number;
  pageSize: number;
  /** Outcomes recorded but not yet written. */
  unwritten: number;
  /** The position of `outcomes[0]` (or where the next one will be). */
  from: OutcomePosition;
  outcomes: ItemOutcome[];
}

/**
 * The status and the outcomes recorded since a position that are not in a result page yet (the
 * service's events stream reads older ones from the pages on disk). Answer bounded to
 * MAX_OUTCOMES_PER_QUERY outcomes; `limit` lowers it.
 */
export const outcomesSinceQuery = defineQuery<OutcomesSince, [(OutcomePosition & { limit?: number })?]>(
  'outcomesSince',
);

/** The most recent item failures (at most 50), newest last. */
export const failuresQuery = defineQuery<FailureRecord[]>('failures');

/** Change limits of a running batch. Payload: `{ "concurrency": 1..1000, "rate": items/s > 0 or null, "budget": > 0 or null }`. */
export const setLimitsUpdate = defineUpdate<Limits, [SetLimitsInput]>('setLimits');

export interface SetLimitsInput {
  concurrency?: number;
  /** Items started per second; `null` removes the pacing. */
  rate?: number | null;
  /** Cost budget; `null` removes it. */
  budget?: number | null;
}

/**
 * What each message does and its payload, shown by the Web UI (Queries tab, Signal and Update
 * dialogs). docs/web-ui.md documents the same shapes.
 */
export const messageDescriptions = {
  itemCompleted: 'Internal: an item child reports its outcome. Not for operators.',
  itemBlocked:
    'Internal: an item child reports that the workers cannot run it (the batch pauses). Not for operators.',
  reportBySignal:
    'Internal: the parent is about to continue-as-new; report the outcome by signal. Not for operators.',
  retryItem:
    'Internal: the parent tells a blocked item to run its step again after a resume. Not for operators.',
  itemsCompleted: "Internal: a page child reports a batch of its items' outcomes. Not for operators.",
  pageControl:
    "Internal: how many of this page's items may run at once, pause and rate. Use the batch's pause/resume/setLimits instead",
  pageCancelItem: "Internal: cancels one item of this page. Use the batch's cancelItem instead",
  runnerReport: "Internal: the page's runner activity reports finished items. Not for operators.",
  pageRunner:
    'Internal: what the page\'s runner activity may do now (slots, pause, rate, cancelled items). Input (optional): {"todo": true} adds the items left',
  pause: 'Stop starting new items; items in flight finish. Input (optional): {"reason": "why"}',
  resume:
    'Start new items again after a pause (also after a budget, source-changed or module-load pause; blocked items run again). Input: none',
  progress:
    'Batch status: counts (succeeded, failed, skipped, cancelled, running, pending add up to total), percent, throughput, latency, ETA, cost, limits',
  outcomesSince:
    'Status and the outcomes recorded but not yet written to a result page, from a position. Input (optional): {"page": n, "line": n, "limit": 1..500}',
  failures: 'The most recent item failures (at most 50), newest last: key, errorType, errorMessage, attempts',
  setLimits: `Change limits. Input: {"concurrency": 1..${MAX_CONCURRENCY}, "rate": items/s or null for unpaced, "budget": cost or null}; any subset. Returns the limits now in force`,
  cancelItem:
    'Cancel one item. Input: {"key": "<item key>"}. Running → its child is cancelled; not started → skipped. The batch goes on',
} as const;

/** Returns an error message for invalid limits, or undefined when they are acceptable. */
export function validateLimits(input: SetLimitsInput): string | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return 'setLimits needs an object with "concurrency", "rate" and/or "budget", e.g. {"concurrency": 20}';
  }
  const unknown = Object.keys(input).filter((k) => !['concurrency', 'rate', 'budget'].includes(k));
  if (unknown.length > 0) {
    return `setLimits takes only "concurrency", "rate" and "budget", not ${unknown.map((k) => JSON.stringify(k.slice(0, 50))).join(', ')}`;
  }
  if (input.concurrency === undefined && input.rate === undefined && input.budget === undefined) {
    return 'setLimits needs "concurrency", "rate" and/or "budget", e.g. {"concurrency": 20}';
  }
  const b = input.budget;
  if (b !== undefined && b !== null && (typeof b !== 'number' || !Number.isFinite(b) || b <= 0)) {
    return `budget must be a number above 0 (or null for no budget), got ${String(b)}`;
  }
  const c = input.concurrency;
  if (c !== undefined && (!Number.isInteger(c) || c < 1 || c > MAX_CONCURRENCY)) {
    return `concurrency must be a whole number from 1 to ${MAX_CONCURRENCY}, got ${String(c)}`;
  }
  const r = input.rate;
  if (
    r !== undefined &&
    r !== null &&
    (typeof r !== 'number' || !Number.isFinite(r) || r <= 0 || r > MAX_RATE)
  ) {
    return `rate must be a number of items per second above 0 and at most ${MAX_RATE} (or null for no pacing), got ${String(r)}`;
  }
  return undefined;
}

export interface CancelItemInput {
  key: string;
}

export interface CancelItemResult {
  key: string;
  /** `cancelling`: the running child was asked to cancel; `skipped`: the pending item will not start. */
  action: 'cancelling' | 'skipped';
}

/** Cancel one item. Payload: `{ "key": "<item key>" }`. Running → its child is cancelled; pending → skipped. */
export const cancelItemUpdate = defineUpdate<CancelItemResult, [CancelItemInput]>('cancelItem');

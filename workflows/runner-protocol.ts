// The runner protocol (`--item-execution runner`), both sides: the page workflow starts one
// `runPageItems` activity that runs the page's items itself, one after another or several at once,
// with the batch's retry policy. The page stays the checkpoint and the single writer of outcomes:
// - the runner asks the page (`pageRunner` query) what it may do: which items are still to run (once,
//   when it starts), the page's slots, pause, rate and cost allowance, which items an operator
//   cancelled, and whether the page is ending; it asks again every RUNNER_POLL_MS;
// - it sends finished items to the page (`runnerReport` signal) in batches, with the control version
//   it has applied (a pause or a reclaim is acknowledged only once the runner applied it), how many
//   items it runs and what they commit of the allowance;
// - an item is done once its outcome is in the page's history: a new runner attempt (after a worker
//   died) asks for the items still to run and never sends a done one again; only items in flight at
//   the crash run again, with the same Idempotency-Key. Their attempt numbers survive in the runner's
//   heartbeat details.
import type { ItemRunSpec } from './item-run';
import type { PageControl } from './messages';
import type { ItemOutcome, StagedSourceRef } from './types';

/** How often the runner asks the page for its control: pause, cancel and limits apply within it. */
export const RUNNER_POLL_MS = 250;
/**
 * A runner report carries at most this many outcomes, and at most RUNNER_REPORT_MAX_BYTES of them
 * (far below Temporal's 2 MB payload limit); the page passes them on to the parent the same way.
 */
export const RUNNER_REPORT_MAX = 1_000;
export const RUNNER_REPORT_MAX_BYTES = 256 * 1024;
/**
 * A finished item waits at most this long in the runner before it is sent to the page: every report
 * costs the page and the parent a signal and a workflow task each.
 */
export const RUNNER_REPORT_MS = 2_000;
/** Once the runner has no item left to start, a finished item is sent within this. */
export const RUNNER_TAIL_REPORT_MS = 100;
/** A runner that does not heartbeat for this long is retried on another worker. */
export const RUNNER_HEARTBEAT_TIMEOUT_MS = 10_000;
/** Keys of running items listed in a report (the page's Current Details shows 100 items). */
export const RUNNER_KEYS_SHOWN = 100;

export interface RunPageItemsInput {
  spec: ItemRunSpec;
  source: StagedSourceRef;
  /** The page's items: `count` from `first` (the runner runs only those the page says are left). */
  first: number;
  count: number;
  /** The page's workflow id: the runner queries and signals it. */
  pageWorkflowId: string;
  /** The page's report token, sent with every report (see ChildSender in messages.ts). */
  token?: string;
}

export interface RunPageItemsResult {
  /** Outcomes this attempt sent to the page. */
  sent: number;
  /** The runner stopped because the page is ending (cancelled): items not started were left. */
  stopped: boolean;
}

/** The `pageRunner` query's answer: what the runner may do now. */
export interface RunnerView {
  /** Bumped on every change of control or of the cancelled keys. */
  version: number;
  control: Omit<PageControl, 'token'>;
  /** Cost of the page's recorded outcomes (the runner adds what it finishes itself). */
  spent: number;
  /** Items an operator cancelled that have no outcome yet: the runner aborts or skips them. */
  cancel: string[];
  /** The page is ending (cancelled): stop every item, start none. */
  stopping: boolean;
  /** Indexes of the items without an outcome, as [from, to) ranges; only when asked for (`todo`). */
  todo?: [number, number][];
}

/** Runner → page: finished items and the runner's state. */
export interface RunnerReport {
  outcomes: ItemOutcome[];
  /** The RunnerView version the runner has applied (pause, limits, allowance, cancels). */
  applied: number;
  /** Items started and not finished (running, or waiting to retry: they hold their slots). */
  running: number;
  /** The first RUNNER_KEYS_SHOWN of them. */
  runningKeys: string[];
  /** With a budget: expected cost of the running items, and the next item's when it does not fit. */
  inflight?: number;
  need?: number;
  needKey?: string;
  token?: string;
}

/** The runner's heartbeat details: attempts begun per running item, so a retry counts on. */
export interface RunnerHeartbeat {
  /** [item index, last attempt begun] of each item started and not reported. */
  attempts: [number, number][];
}

/** How many outcomes from the head of `outcomes` one report carries (count and bytes bounded). */
export function reportSize(outcomes: readonly ItemOutcome[]): number {
  let n = 0;
  for (let bytes = 0; n < outcomes.length && n < RUNNER_REPORT_MAX; n++) {
    bytes += JSON.stringify(outcomes[n]).length;
    if (bytes > RUNNER_REPORT_MAX_BYTES && n > 0) break;
  }
  return n;
}

/** Index ranges [from, to) of a sorted list of indexes (a page's todo list stays small). */
export function indexRanges(sorted: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const i of sorted) {
    const last = out.at(-1);
    if (last && last[1] === i) last[1] = i + 1;
    else out.push([i, i + 1]);
  }
  return out;
}

export function inRanges(ranges: readonly [number, number][], i: number): boolean {
  return ranges.some(([a, b]) => i >= a && i < b);
}

import {
  CancellationScope,
  condition,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { readPage, runnerActivity } from './activity-options';
import { workflowNowIso } from './clock';
import { runItem } from './item-run';
import { operatorSkipped, Pacer, sourcePauseOf } from './item-starts';
import { PageBudget } from './page-budget';
import { unranOutcome } from './outcomes';
import { FailureType } from './failure-types';
import {
  itemsCompletedSignal,
  messageDescriptions as describe,
  pageCancelItemSignal,
  pageControlSignal,
  pageRunnerQuery,
  runnerReportSignal,
  type PageControl,
} from './messages';
import { itemKeysKey } from './search-attributes';
import {
  ignored,
  neverThrows,
  parsePageCancelItem,
  parsePageControl,
  parseRunnerReport,
} from './message-validation';
import { RunnerLink } from './page-runner';
import { reportSize } from './runner-protocol';
import { blockingFailure } from './step-retry';
import { messageExcerpt } from './excerpt';
import { ParentLink } from './parent-link';
import type { Item, ItemOutcome } from './types';
import type { ItemRunSpec } from './item-run';
import type { StagedSourceRef } from './types';

/**
 * Outcomes are sent to the parent in batches: at most this many, at least every FLUSH_MS; once the
 * page has no item left to start, every finished item frees a slot another page could use, so it
 * reports within TAIL_FLUSH_MS.
 */
const FLUSH_MAX = 100;
const FLUSH_MS = 2_000;
const TAIL_FLUSH_MS = 100;
/** Keys listed in the ItemKeys search attribute (a KeywordList is bounded in size). */
const MAX_SEARCH_KEYS_BYTES = 1_500; // the server refuses a value over 2,048 bytes (and fails the page)

export interface PageInput extends ItemRunSpec {
  /** The parent's workflow id (no run id: reports must reach whichever run is current). */
  parentWorkflowId: string;
  source: StagedSourceRef;
  /** Index of the page's first item, and how many consecutive items it holds. */
  first: number;
  count: number;
  control: PageControl;
  /** Items of this page an operator cancelled before it started (already counted by the parent). */
  skip: string[];
  /**
   * Sent with every report to the parent, and expected on every message from it: only the parent
   * and this page know it (absent: a page started before tokens; messages are taken without).
   */
  reportToken?: string;
}

export interface PageSummary {
  first: number;
  count: number;
  reported: number;
}

/** Current Details of a page: its items and their state (the first 100). */
export function pageDetails(input: PageInput, state: Map<string, string>): string {
  const counts: Record<string, number> = {};
  for (const s of state.values()) counts[s] = (counts[s] ?? 0) + 1;
  const summary = Object.entries(counts)
    .map(([s, n]) => `${s} **${n}**`)
    .join(' · ');
  const rows = [...state.entries()].slice(0, 100).map(([k, s]) => `${k}: ${s}`);
  return [
    `**page** items ${input.first + 1}–${input.first + input.count} of batch ${input.batchId}`,
    '',
    summary,
    '',
    rows.join(' · ') + (state.size > 100 ? ' · …' : ''),
  ].join('\n');
}

/**
 * The first keys whose encoded size stays within `maxBytes`: a KeywordList search attribute is
 * refused over 2,048 bytes. Pages with longer keys list only some of them in ItemKeys.
 */
export function keysWithin(keys: string[], maxBytes: number): string[] {
  const out: string[] = [];
  let size = 2; // the JSON list's brackets
  for (const key of keys) {
    const bytes = utf8Length(JSON.stringify(key)) + 1; // quoted and escaped, plus a comma
    if (size + bytes > maxBytes) break;
    size += bytes;
    out.push(key);
  }
  return out;
}

/** UTF-8 length of a string, counted by hand: the workflow sandbox has no Buffer. */
function utf8Length(text: string): number {
  let n = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/**
 * A page of a batch: `count` consecutive items run in one child workflow, each item's steps as
 * activities (or local activities) with the batch's retry policy and `Idempotency-Key
 * <batchId>:<itemKey>`, at most `control.slots` at once and paced at `control.ratePerSec`: the parent
 * hands out slots so that the batch's concurrency counts items across all pages. Outcomes go to the
 * parent in batches (`itemsCompleted`); `pageControl` changes slots, pause and rate; `pageCancelItem`
 * cancels one item (running: its activity is cancelled; not started: skipped). Cancelling the page
 * cancels its running items and reports the rest cancelled. A finished item is in this workflow's
 * history and never runs again, also after a worker dies.
 */
export async function pageWorkflow(input: PageInput): Promise<PageSummary> {
  let control = input.control;
  const outbox: ItemOutcome[] = [];
  let reported = 0;
  const running = new Map<string, { item: Item; scope: CancellationScope; startedAt: string }>();
  const pendingCancels = new Set<string>();
  const skipped = new Set(input.skip);
  const pending: Item[] = [];
  const state = new Map<string, string>(); // key → status shown in Current Details

  // A pause is acknowledged with a report: from then on the parent counts only what still runs. So
  // is a reclaim of allowance: the report says what this page committed within the smaller one.
  let reportDue = false;
  // The parent's messages: any client can send them by name, so each is checked for its shape and
  // its token (the one this page was started with); anything else is logged and ignored. No handler
  // throws: that would fail the workflow task and stop the page's items for good.
  const parent = new ParentLink(input, 'page', { batchId: input.batchId });
  setHandler(
    pageControlSignal,
    neverThrows('pageControl', (raw: unknown) => {
      const parsed = parsePageControl(raw);
      if ('problem' in parsed) return ignored('pageControl', parsed.problem, { batchId: input.batchId });
      const { token, ...c } = parsed.ok;
      if (!parent.fromParent('pageControl', { token })) return;
      if (runner) {
        // A running runner acknowledges through its next report, once it starts nothing more.
        if (runner.controlChanged(control, c)) reportDue = true;
      } else {
        if (c.paused && !control.paused) reportDue = true;
        if (c.reclaim !== undefined && c.reclaim !== control.reclaim) reportDue = true;
      }
      control = c;
    }),
    { description: describe.pageControl },
  );
  setHandler(
    pageCancelItemSignal,
    neverThrows('pageCancelItem', (raw: unknown) => {
      const parsed = parsePageCancelItem(raw);
      if ('problem' in parsed) return ignored('pageCancelItem', parsed.problem, { batchId: input.batchId });
      const { key, token } = parsed.ok;
      if (!parent.fromParent('pageCancelItem', { token })) return;
      if (runner) {
        // Only the runner knows whether it started the item: it aborts or skips it.
        if (state.get(key) === 'pending' || state.get(key) === 'running') runner.cancel(key);
        else if (!state.has(key)) pendingCancels.add(key);
        return;
      }
      const r = running.get(key);
      if (r) return r.scope.cancel();
      const at = pending.findIndex((i) => i.key === key);
      if (at >= 0) {
        const [item] = pending.splice(at, 1);
        record(operatorSkipped(item!));
      } else pendingCancels.add(key); // not read yet: skipped when it is
    }),
    { description: describe.pageCancelItem },
  );

  // Runner mode: the page's items run in a runner activity that reports them here (page-runner.ts).
  const runner = input.runner ? new RunnerLink() : undefined;
  if (runner) {
    setHandler(
      runnerReportSignal,
      neverThrows('runnerReport', (raw: unknown) => {
        const parsed = parseRunnerReport(raw);
        if ('problem' in parsed) return ignored('runnerReport', parsed.problem, { batchId: input.batchId });
        if (!parent.fromParent('runnerReport', { token: parsed.ok.token })) return;
        for (const outcome of parsed.ok.outcomes) {
          const s = state.get(outcome.key);
          if (s !== 'pending' && s !== 'running') continue; // not this page's, or already recorded
          record(outcome);
          budget.finished(outcome.key, outcome.cost);
        }
        if (runner.reported(parsed.ok)) reportDue = true;
        for (const key of parsed.ok.runningKeys) if (state.get(key) === 'pending') state.set(key, 'running');
        refreshDetails();
      }),
      { description: describe.runnerReport },
    );
    setHandler(
      pageRunnerQuery,
      (args?: { todo?: boolean }) =>
        runner.view(
          control,
          budget.spentSoFar,
          args?.todo === true ? pending.map((i) => i.index).sort((a, b) => a - b) : undefined,
        ),
      { description: describe.pageRunner },
    );
  }

  function record(outcome: ItemOutcome): void {
    outbox.push(outcome);
    state.set(outcome.key, outcome.status);
    if (runner) {
      // Runner mode: `pending` holds every item without an outcome (the runner's own state is its own).
      const at = pending.findIndex((i) => i.key === outcome.key);
      if (at >= 0) pending.splice(at, 1);
      runner.finished(outcome.key);
    }
  }

  /** Sends the outcomes not sent yet (or, with `always`, at least a report of the page's state). */
  async function flush(always = false): Promise<void> {
    while (outbox.length > 0 || always) {
      always = false;
      // A runner's reports pass on whole (they are larger: page-runner.ts).
      const batch = outbox.splice(0, runner ? reportSize(outbox) : FLUSH_MAX);
      await parent.report(itemsCompletedSignal, {
        outcomes: batch,
        unfinished: pending.length + running.size + outbox.length,
        running: runner ? runner.running : running.size,
        paused: control.paused,
        cost: runner ? runnerCost() : budget.report(pending[0]),
        ...(control.reclaim !== undefined ? { ack: control.reclaim } : {}),
      });
      reported += batch.length;
    }
  }

  const refreshDetails = () => setCurrentDetails(pageDetails(input, state));

  const budget = new PageBudget(input.cost, () => control);
  /** The cost part of a report in runner mode: the page's recorded spend, the runner's commitments. */
  const runnerCost = () =>
    control.costAllowance === undefined
      ? undefined
      : { spent: budget.spentSoFar, inflight: runner!.inflight, ...(runner!.need ?? {}) };
  let asked: PageControl | undefined;

  /** A page of the source; an edited source pauses the batch (never mixes two versions). */
  async function readPageOrWait(offset: number): Promise<Item[]> {
    for (;;) {
      try {
        const limit = input.first + input.count - offset;
        return await readPage({ batchId: input.batchId, source: input.source, offset, limit });
      } catch (err) {
        const pause = sourcePauseOf(err);
        if (!pause) throw err;
        await parent.waitForRetry(`(items from ${offset + 1})`, pause.type, pause.message);
      }
    }
  }

  /**
   * Runner mode: runner activities run the items left until none is, reporting here; a runner the
   * workers cannot run (a module that does not import, an edited source, storage gone) pauses the
   * batch, and a new one starts after the resume. A cancelled page's runner stops its items.
   */
  async function runWithRunner(link: RunnerLink): Promise<void> {
    const runnerInput = {
      spec: {
        batchId: input.batchId,
        steps: input.steps,
        retry: input.retry,
        cost: input.cost,
        outputDir: input.outputDir,
      },
      source: input.source,
      first: input.first,
      count: input.count,
      pageWorkflowId: workflowInfo().workflowId,
      ...(input.reportToken !== undefined ? { token: input.reportToken } : {}),
    };
    const runPageItems = runnerActivity(input.retry.heartbeatTimeoutMs);
    while (pending.length > 0) {
      link.active = true;
      let ended = false;
      let failure: unknown;
      let result: { sent: number; stopped: boolean } | undefined;
      const settle = () => {
        ended = true;
        if (link.ended()) reportDue = true;
      };
      void runPageItems(runnerInput).then(
        (r) => {
          result = r;
          settle();
        },
        (err: unknown) => {
          failure = err;
          settle();
        },
      );
      for (;;) {
        await condition(() => ended || reportDue);
        if (!reportDue) break;
        reportDue = false;
        await flush(true);
      }
      if (failure === undefined) {
        if (pending.length > 0 && result?.sent === 0) {
          log.warn('runner ended with items left and none reported; starting another', {
            batchId: input.batchId,
            left: pending.length,
          });
          await sleep(1_000);
        }
        continue;
      }
      if (isCancellation(failure)) throw failure as Error;
      const pause = sourcePauseOf(failure);
      const blocked = pause
        ? { errorType: pause.type, errorMessage: messageExcerpt(pause.message, 500) }
        : blockingFailure(failure, 500);
      if (!blocked) throw failure as Error;
      await parent.waitForRetry('(runner)', blocked.errorType, blocked.errorMessage);
    }
  }

  let cancelled: unknown;
  try {
    // Read the page's own items: they never pass through the parent's history.
    for (let offset = input.first; offset < input.first + input.count;) {
      const items = await readPageOrWait(offset);
      if (items.length === 0) throw new Error(`source ended at item ${offset}`);
      for (const item of items) {
        if (skipped.has(item.key)) continue; // the parent counted it already
        if (pendingCancels.delete(item.key)) {
          record(operatorSkipped(item));
        } else if (item.invalid !== undefined) {
          record(unranOutcome(item, 'skipped', FailureType.InvalidItem, item.invalid));
        } else {
          pending.push(item);
          state.set(item.key, 'pending');
        }
      }
      offset += items.length;
    }
    upsertSearchAttributes([
      { key: itemKeysKey, value: keysWithin([...state.keys(), ...skipped], MAX_SEARCH_KEYS_BYTES) },
    ]);
    refreshDetails();

    // Flushes outcomes in batches: many items per signal when items are short.
    let done = false;
    const flusher = (async () => {
      try {
        while (!done) {
          await condition(() => done || outbox.length > 0);
          // A runner's report is a batch already: passed on at once.
          if (!done && outbox.length < FLUSH_MAX && !runner) {
            await condition(() => done || outbox.length >= FLUSH_MAX || pending.length === 0, FLUSH_MS);
          }
          if (!done && outbox.length < FLUSH_MAX && pending.length === 0) {
            await condition(() => done || outbox.length >= FLUSH_MAX, TAIL_FLUSH_MS);
          }
          await flush();
        }
      } catch (err) {
        if (!isCancellation(err)) throw err; // a cancelled page flushes at its end
      }
    })();

    if (runner) await runWithRunner(runner);

    const startNext = (): void => {
      const item = pending.shift()!;
      budget.started(item);
      const scope = new CancellationScope();
      running.set(item.key, { item, scope, startedAt: workflowNowIso() });
      state.set(item.key, 'running');
      void scope
        .run(() =>
          runItem(input, item, {
            blocked: (errorType, errorMessage) => parent.waitForRetry(item.key, errorType, errorMessage),
          }),
        )
        .then((outcome) => {
          running.delete(item.key);
          budget.finished(item.key, outcome.cost);
          record(outcome);
          refreshDetails();
        });
    };
    const pacer = new Pacer();
    const canStart = () =>
      pending.length > 0 && !control.paused && running.size < control.slots && budget.fits(pending[0]!);
    // The next item does not fit the allowance: ask the parent once per control it sent.
    // A page started ahead (no slot yet) asks only once it may run items.
    const mustAsk = () =>
      pending.length > 0 &&
      !control.paused &&
      control.slots > 0 &&
      asked !== control &&
      !budget.fits(pending[0]!);
    // Runner mode ran its items above; the condition keeps this loop's awaits as they were.
    while (!runner) {
      await condition(
        () => (pending.length === 0 && running.size === 0) || canStart() || mustAsk() || reportDue,
      );
      if (reportDue) {
        reportDue = false;
        await flush(true);
        continue;
      }
      if (pending.length === 0) break;
      if (!canStart()) {
        asked = control;
        await flush(true);
        continue;
      }
      if (control.ratePerSec) {
        const wait = pacer.reserve(control.ratePerSec);
        if (wait > 0) {
          await sleep(wait);
          continue; // slots, pause or cancel may have changed while waiting
        }
        startNext();
        continue;
      }
      // Every item that may start now, without a condition (and its promises) per item: the same
      // commands in the same order as one start per loop turn.
      do startNext();
      while (canStart());
    }
    done = true;
    await flusher;
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelled = err;
    if (runner) runner.stopping = true; // the runner stops its items within its next poll
  }

  // Cancelled: running items are being cancelled (their scopes are children of this one); every item
  // not started is reported cancelled, and the last outcomes are sent whatever happens.
  return await CancellationScope.nonCancellable(async () => {
    if (cancelled !== undefined) {
      await condition(() => running.size === 0 && !runner?.active);
      for (const item of pending.splice(0)) {
        record(
          unranOutcome(item, 'cancelled', FailureType.NotStarted, 'the batch ended before this item started'),
        );
      }
    }
    try {
      await flush();
    } catch (err) {
      log.warn('could not report outcomes to the parent', { batchId: input.batchId, error: String(err) });
    }
    refreshDetails();
    if (cancelled !== undefined) throw cancelled as Error;
    return { first: input.first, count: input.count, reported };
  });
}

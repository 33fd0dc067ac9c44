import {
  CancellationScope,
  condition,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { readPage } from './activity-options';
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
  type PageControl,
} from './messages';
import { itemKeysKey } from './search-attributes';
import { ignored, neverThrows, parsePageCancelItem, parsePageControl } from './message-validation';
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
      if (c.paused && !control.paused) reportDue = true;
      if (c.reclaim !== undefined && c.reclaim !== control.reclaim) reportDue = true;
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

  function record(outcome: ItemOutcome): void {
    outbox.push(outcome);
    state.set(outcome.key, outcome.status);
  }

  /** Sends the outcomes not sent yet (or, with `always`, at least a report of the page's state). */
  async function flush(always = false): Promise<void> {
    while (outbox.length > 0 || always) {
      always = false;
      const batch = outbox.splice(0, FLUSH_MAX);
      await parent.report(itemsCompletedSignal, {
        outcomes: batch,
        unfinished: pending.length + running.size + outbox.length,
        running: running.size,
        paused: control.paused,
        cost: budget.report(pending[0]),
        ...(control.reclaim !== undefined ? { ack: control.reclaim } : {}),
      });
      reported += batch.length;
    }
  }

  const refreshDetails = () => setCurrentDetails(pageDetails(input, state));

  const budget = new PageBudget(input.cost, () => control);
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
          if (!done && outbox.length < FLUSH_MAX) {
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
    for (;;) {
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
  }

  // Cancelled: running items are being cancelled (their scopes are children of this one); every item
  // not started is reported cancelled, and the last outcomes are sent whatever happens.
  return await CancellationScope.nonCancellable(async () => {
    if (cancelled !== undefined) {
      await condition(() => running.size === 0);
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

// Every item's state in a batch, as compact arrays indexed by item: what the result pages on disk
// and the item journal say, read incrementally (each page and journal byte once per process), plus
// the outcomes not yet written (the batch's snapshot). For 100,000 items it holds about 2.5 MB;
// the details of a page of items are read from the result pages when asked.
import type { ItemOutcome, ItemStatus } from '../../../workflows/types';
import { readJournal, readResultPage, type BatchFiles } from '../events/batch-files';
import type { BatchSnapshot } from '../events/batch-snapshots';

export const ITEM_STATES = [
  'pending',
  'running',
  'retrying',
  'succeeded',
  'failed',
  'cancelled',
  'skipped',
] as const;
export type ItemState = (typeof ITEM_STATES)[number];

const OUTCOME_CODE: Record<ItemStatus, number> = { succeeded: 1, failed: 2, cancelled: 3, skipped: 4 };
const OUTCOME_OF = [undefined, 'succeeded', 'failed', 'cancelled', 'skipped'] as const;
const RUNNING = 1;
const RETRYING = 2;

/** What the journal says of an item that has not ended. */
export interface AttemptInfo {
  attempts: number;
  startedAt?: string;
  progress?: number;
  error?: { error: string; errorType: string };
}

export class ItemStates {
  /** Result page of each item's outcome (-1: none on disk). */
  private readonly pageOf: Int32Array;
  private readonly outcome: Uint8Array;
  private readonly live: Uint8Array;
  private readonly attempts: Uint16Array;
  private readonly progress: Float32Array;
  private readonly startedAt: Float64Array;
  private readonly errors = new Map<number, { error: string; errorType: string }>();
  /** Outcomes recorded but not yet in a page, from the latest snapshot, by index. */
  private tail = new Map<number, ItemOutcome>();
  private nextPage = 0;
  private pagesComplete = false;
  private journalOffset = 0;
  private refreshing: Promise<void> = Promise.resolve();
  closed = false;
  usedAt = Date.now();

  constructor(
    readonly files: BatchFiles,
    readonly total: number,
  ) {
    this.pageOf = new Int32Array(total).fill(-1);
    this.outcome = new Uint8Array(total);
    this.live = new Uint8Array(total);
    this.attempts = new Uint16Array(total);
    this.progress = new Float32Array(total).fill(Number.NaN);
    this.startedAt = new Float64Array(total).fill(Number.NaN);
  }

  /** Where the outcomes not read from disk start (the snapshot to ask for). */
  get firstUnread(): { page: number; line: number } {
    return { page: this.nextPage, line: 0 };
  }

  /** Brings the arrays up to date with the disk and `snap`; one refresh at a time. */
  refresh(snap: BatchSnapshot): Promise<void> {
    const done = this.refreshing.then(() => this.apply(snap));
    // A failed refresh fails its caller only: the next one starts from what was read.
    this.refreshing = done.catch(() => undefined);
    return done;
  }

  private async apply(snap: BatchSnapshot): Promise<void> {
    this.usedAt = Date.now();
    for (;;) {
      const chunk = await readJournal(this.files.outputDir, this.journalOffset, 1024 * 1024);
      for (const { entry: e } of chunk.entries) {
        const i = e.index;
        if (i >= this.total) continue;
        if (e.state === 'progress') this.progress[i] = e.percent;
        else if (e.state === 'attempt-failed') {
          this.errors.set(i, { error: e.error, errorType: e.errorType });
          this.live[i] = RETRYING;
        } else {
          this.live[i] = e.state === 'started' ? RUNNING : RETRYING;
          this.attempts[i] = Math.max(this.attempts[i]!, Math.min(e.attempt, 65_535));
          if (e.state === 'started' && Number.isNaN(this.startedAt[i])) this.startedAt[i] = Date.parse(e.at);
        }
      }
      this.journalOffset = chunk.next;
      if (chunk.atEnd) break;
    }
    this.closed = snap.closed;
    while (!this.pagesComplete && (snap.closed || this.nextPage < snap.resultsPage)) {
      const outcomes = await readResultPage(this.files.outputDir, this.nextPage);
      if (!outcomes) {
        this.pagesComplete = snap.closed;
        break;
      }
      for (const o of outcomes) this.setOutcome(o, this.nextPage);
      this.nextPage += 1;
    }
    this.tail = new Map();
    if (!snap.closed)
      for (const o of snap.outcomes) if (o.index >= 0 && o.index < this.total) this.tail.set(o.index, o);
  }

  private setOutcome(o: ItemOutcome, page: number): void {
    const i = o.index;
    if (!(i >= 0 && i < this.total) || !(o.status in OUTCOME_CODE) || this.pageOf[i] !== -1) return;
    this.pageOf[i] = page;
    this.outcome[i] = OUTCOME_CODE[o.status];
    this.errors.delete(i);
  }

  /**
   * Of a closed batch: the indexes of items with no recorded outcome (never started: its report
   * counts them cancelled), from the `skip`-th such item on, at most `limit`.
   */
  neverStarted(skip: number, limit: number): number[] {
    const found: number[] = [];
    let seen = 0;
    for (let i = 0; i < this.total && found.length < limit; i++) {
      if (this.hasOutcome(i)) continue;
      if (seen++ >= skip) found.push(i);
    }
    return found;
  }

  /** True when item `i` has a recorded outcome (on disk or in the snapshot). */
  hasOutcome(i: number): boolean {
    return this.outcome[i] !== 0 || this.tail.has(i);
  }

  stateOf(i: number): ItemState {
    const ended = OUTCOME_OF[this.outcome[i]!] ?? this.tail.get(i)?.status;
    if (ended) return ended;
    // Closed without an outcome: the batch ended before the item started (the report says so too).
    if (this.closed) return 'cancelled';
    return this.live[i] === RETRYING ? 'retrying' : this.live[i] === RUNNING ? 'running' : 'pending';
  }

  /** The outcome of item `i` if it ended: from the snapshot, or read from its result page. */
  async outcomeOf(
    i: number,
    pages: Map<number, Promise<ItemOutcome[] | undefined>>,
  ): Promise<ItemOutcome | undefined> {
    const inTail = this.tail.get(i);
    if (inTail) return inTail;
    const page = this.pageOf[i]!;
    if (page < 0) return undefined;
    let read = pages.get(page);
    if (!read) pages.set(page, (read = readResultPage(this.files.outputDir, page)));
    return (await read)?.find((o) => o.index === i);
  }

  attemptInfo(i: number): AttemptInfo {
    const p = this.progress[i]!;
    const s = this.startedAt[i]!;
    return {
      attempts: this.attempts[i]!,
      ...(Number.isNaN(s) ? {} : { startedAt: new Date(s).toISOString() }),
      ...(Number.isNaN(p) ? {} : { progress: p }),
      ...(this.errors.has(i) ? { error: this.errors.get(i) } : {}),
    };
  }
}

const views = new Map<string, ItemStates>();
const MAX_VIEWS = 20;
const IDLE_MS = 10 * 60_000;

/**
 * The batch's item states, kept per process for a while (at most MAX_VIEWS batches, each dropped
 * after IDLE_MS unused), so paging through a large batch reads each page and journal byte once.
 */
export function itemStatesOf(files: BatchFiles): ItemStates {
  const now = Date.now();
  for (const [id, v] of views) if (now - v.usedAt > IDLE_MS) views.delete(id);
  let v = views.get(files.batchId);
  if (!v) {
    if (views.size >= MAX_VIEWS) {
      const oldest = [...views.entries()].sort((a, b) => a[1].usedAt - b[1].usedAt)[0]!;
      views.delete(oldest[0]);
    }
    v = new ItemStates(files, files.source.total);
    views.set(files.batchId, v);
  }
  return v;
}

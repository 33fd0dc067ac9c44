// One subscriber's stream of a batch's events, from its cursor on: journal entries (started,
// retrying, progress) and recorded outcomes (succeeded, failed, cancelled, skipped) each once, in
// the order their sources hold them, with the counts whenever they change and `end` once the batch
// has closed and everything before it was sent. The journal is read before the outcomes on every
// round, so an item's `started` always comes before its end.
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchProgress } from '../../../workflows/types';
import { BatchNotFoundError } from '../../errors';
import type { ApiContext } from '../context';
import { itemStatesOf } from '../items/item-states';
import { readJournal, readResultPage, stagedKeys, type BatchFiles } from './batch-files';
import { tailIndex, type BatchSnapshot, type BatchSnapshots } from './batch-snapshots';
import { formatEventId, type StreamCursor } from './event-id';
import { AttemptErrors, journalEvent, neverStartedEvent, outcomeEvent } from './item-events';

export interface EventSink {
  /** Writes one event (`id` absent: an event that does not move the cursor); resolves once the client can take more. */
  send(event: string, data: unknown, id?: string): Promise<void>;
  comment(text: string): Promise<void>;
}

export interface StreamOptions {
  ctx: ApiContext;
  snapshots: BatchSnapshots;
  files: BatchFiles;
  cursor: StreamCursor;
  sink: EventSink;
  signal: AbortSignal;
  pollMs?: number;
  keepAliveMs?: number;
}

/** Result pages read per round at most: a late subscriber catches up without starving the others. */
const PAGES_PER_ROUND = 20;
/** Never-started items looked up in the staged source at once. */
const NEVER_STARTED_PER_READ = 500;
/** How far back before a resumed cursor the journal is read for the errors of failed attempts. */
const ERROR_LOOKBACK_BYTES = 64 * 1024;

/** The counts a client tracks: a `counts` event is sent when any of them changes. */
function countsKey(p: BatchProgress): string {
  return JSON.stringify([p.status, p.succeeded, p.failed, p.skipped, p.cancelled, p.running, p.pending]);
}

export async function streamBatchEvents(opts: StreamOptions): Promise<void> {
  const { files, sink, signal, snapshots } = opts;
  const pollMs = opts.pollMs ?? 400;
  const keepAliveMs = opts.keepAliveMs ?? 15_000;
  const cursor = { ...opts.cursor };
  const errors = new AttemptErrors();
  const id = () => formatEventId(cursor);
  let lastCounts: string | undefined;
  let lastWrite = Date.now();
  const send = async (event: string, data: unknown) => {
    await sink.send(event, data, id());
    lastWrite = Date.now();
  };

  if (cursor.journal > 0) {
    // A resumed stream shows the error before a `retrying` as the first one did, when it is near.
    const from = Math.max(0, cursor.journal - ERROR_LOOKBACK_BYTES);
    const back = await readJournal(files.outputDir, from, cursor.journal - from);
    for (const { entry } of back.entries) errors.note(entry);
  }

  while (!signal.aborted) {
    const journal = await readJournal(files.outputDir, cursor.journal);
    for (const { entry, end } of journal.entries) {
      cursor.journal = end;
      const ev = journalEvent(entry, errors);
      if (ev) await send(ev.type, ev.data);
    }
    cursor.journal = journal.next;
    if (!journal.atEnd) continue; // outcomes wait until every start before them is sent

    let snap: BatchSnapshot;
    try {
      snap = await snapshots.get(files.batchId, cursor);
    } catch (err) {
      if (err instanceof BatchNotFoundError) throw err;
      // A query refused or timed out (a worker restarting): the next round asks again.
      opts.ctx.log.warn({ err, batchId: files.batchId }, 'events: batch state unavailable, retrying');
      await sleep(pollMs * 2, undefined, { signal }).catch(() => undefined);
      continue;
    }

    let pagesRead = 0;
    let pagesDone = false;
    while (snap.closed || cursor.page < snap.resultsPage) {
      if (++pagesRead > PAGES_PER_ROUND) break;
      const outcomes = await readResultPage(files.outputDir, cursor.page);
      if (!outcomes) {
        pagesDone = true;
        break;
      }
      for (let i = cursor.line; i < outcomes.length; i++) {
        cursor.line = i + 1;
        await send('item', outcomeEvent(outcomes[i]!));
      }
      cursor.page += 1;
      cursor.line = 0;
    }
    const more = pagesRead > PAGES_PER_ROUND;

    if (!snap.closed && !more && cursor.page >= snap.resultsPage) {
      const first = tailIndex(snap, snap.from);
      for (let k = tailIndex(snap, cursor) - first; k >= 0 && k < snap.outcomes.length; k++) {
        cursor.line += 1;
        if (cursor.line >= snap.pageSize) {
          cursor.page += 1;
          cursor.line = 0;
        }
        await send('item', outcomeEvent(snap.outcomes[k]!));
      }
    }

    const counts = countsKey(snap.progress);
    if (counts !== lastCounts) {
      lastCounts = counts;
      await send('counts', snap.progress);
    }
    if (snap.closed && pagesDone) {
      // Past the last page (cursor.page is the first missing one), cursor.line counts the items
      // that never started, which the report counts cancelled: each gets its transition too.
      const states = itemStatesOf(files);
      await states.refresh(snap);
      for (;;) {
        const indexes = states.neverStarted(cursor.line, NEVER_STARTED_PER_READ);
        if (indexes.length === 0) break;
        const keys = await stagedKeys(files, indexes);
        for (const index of indexes) {
          cursor.line += 1;
          await send('item', neverStartedEvent(index, keys.get(index) ?? '', snap.progress));
        }
      }
      await send('end', snap.progress);
      return;
    }
    if (Date.now() - lastWrite >= keepAliveMs) {
      await sink.comment('keep-alive');
      lastWrite = Date.now();
    }
    if (!more) await sleep(pollMs, undefined, { signal }).catch(() => undefined);
  }
}

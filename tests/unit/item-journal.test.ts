// The pieces of the items view and the events stream that need no server: event ids, the journal's
// lines, a command's progress lines, the throttle of progress, and where unwritten outcomes lie.
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { AttemptJournal, PROGRESS_INTERVAL_MS } from '../../activities/item-journal';
import { ProgressLines } from '../../activities/processors/command-progress';
import { formatEventId, parseEventId } from '../../src/api/events/event-id';
import { commandProgressLine, itemJournalFile, parseJournalLine } from '../../src/output-dir/item-journal';
import { outcomesSince } from '../../workflows/outcomes-since';
import type { BatchProgress, ItemOutcome } from '../../workflows/types';

const outcome = (i: number): ItemOutcome => ({
  index: i,
  key: `K${i}`,
  status: 'succeeded',
  attempts: 1,
  latencyMs: 1,
  startedAt: 't',
  endedAt: 't',
});

describe('event ids', () => {
  it('round-trip, and refuse anything else', () => {
    const c = { page: 12, line: 3, journal: 40_960 };
    expect(formatEventId(c)).toBe('o12.3.j40960');
    expect(parseEventId('o12.3.j40960')).toEqual(c);
    for (const bad of [
      '',
      'o1.2',
      'o-1.2.j3',
      'o1.2.j3 ',
      '../o1.2.j3',
      'o1.2.j99999999999999999',
      'o1e3.2.j3',
    ])
      expect(parseEventId(bad)).toBeUndefined();
  });
});

describe('outcomesSince', () => {
  const progress = {} as BatchProgress;
  const state = { resultsPage: 5, unwrittenOutcomes: [...Array(450).keys()].map(outcome) };

  it('places the i-th unwritten outcome at page resultsPage + i / pageSize, line i % pageSize', () => {
    const a = outcomesSince(state, 200, progress, { page: 7, line: 10, limit: 20 });
    expect(a).toMatchObject({ resultsPage: 5, pageSize: 200, unwritten: 450, from: { page: 7, line: 10 } });
    expect(a.outcomes.map((o) => o.index)).toEqual([...Array(20).keys()].map((k) => 410 + k));
  });

  it('answers from the start of the tail for a position on disk or a malformed one, bounded to 500', () => {
    for (const raw of [{ page: 2, line: 9 }, undefined, 'x', { page: -1, line: 0.5 }, { limit: 1e9 }]) {
      const a = outcomesSince(state, 200, progress, raw);
      expect(a.from).toEqual({ page: 5, line: 0 });
      expect(a.outcomes).toHaveLength(450);
    }
    const big = outcomesSince(
      { resultsPage: 0, unwrittenOutcomes: [...Array(900).keys()].map(outcome) },
      200,
      progress,
      {},
    );
    expect(big.outcomes).toHaveLength(500);
  });

  it('past the tail: nothing, at the position the next outcome will take', () => {
    const a = outcomesSince(state, 200, progress, { page: 9, line: 0 });
    expect(a).toMatchObject({ from: { page: 7, line: 50 }, outcomes: [] });
  });
});

describe('journal lines', () => {
  it('accepts the four kinds and refuses torn or foreign lines', () => {
    const base = { key: 'a', index: 0, attempt: 1, at: '2026-01-01T00:00:00.000Z' };
    expect(parseJournalLine(JSON.stringify({ ...base, state: 'started' }))).toMatchObject({
      state: 'started',
    });
    expect(parseJournalLine(JSON.stringify({ ...base, state: 'progress', percent: 50 }))).toMatchObject({
      percent: 50,
    });
    for (const bad of [
      '{"key":"a","index":0,"att',
      JSON.stringify({ ...base, state: 'progress', percent: 101 }),
      JSON.stringify({ ...base, state: 'attempt-failed' }),
      JSON.stringify({ ...base, state: 'done' }),
      JSON.stringify({ ...base, index: -1, state: 'started' }),
      '[1,2]',
    ])
      expect(parseJournalLine(bad)).toBeUndefined();
  });

  it('a command’s progress line: `durabatch-progress: N`, 0 to 100', () => {
    expect(commandProgressLine('durabatch-progress: 42')).toBe(42);
    expect(commandProgressLine('  durabatch-progress:7.5% ')).toBe(7.5);
    for (const bad of [
      'durabatch-progress: 101',
      'progress: 4',
      'durabatch-progress: -1',
      'x durabatch-progress: 4',
    ])
      expect(commandProgressLine(bad)).toBeUndefined();
  });

  it('reads progress lines across chunks, skipping overlong lines, unharmed by characters split across chunks', () => {
    const got: number[] = [];
    const lines = new ProgressLines((p) => got.push(p));
    lines.push(Buffer.from('é durabatch-progress: 1\ndurabatch-pro'));
    lines.push(Buffer.from('gress: 20\r\n'));
    lines.push(Buffer.from('x'.repeat(1000)));
    lines.push(Buffer.from('durabatch-progress: 30\ndurabatch-progress: 40\n'));
    const euro = Buffer.from('€durabatch-progress: 5\n');
    lines.push(euro.subarray(0, 1));
    lines.push(euro.subarray(1));
    lines.push(Buffer.from('durabatch-progress: 50'));
    expect(got).toEqual([20, 40]);
  });
});

describe('an attempt’s journal', () => {
  it('writes started/retrying, failures, and at most one progress line per interval, the latest', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'item-journal-'));
    const first = new AttemptJournal(out, { key: 'a', index: 0 }, 1, undefined);
    first.begin(true);
    first.progress(10);
    for (let p = 11; p <= 30; p++) first.progress(p);
    await sleep(PROGRESS_INTERVAL_MS + 200);
    first.progress(30); // unchanged: no line
    first.failed(Object.assign(new Error('boom\nline two'), { type: 'TransientTargetError' }));
    first.progress(99); // within the interval of 30's line: pending, and dropped by end()
    first.end();
    const second = new AttemptJournal(out, { key: 'a', index: 0 }, 2, 'submit');
    second.begin(false);
    second.end();
    new AttemptJournal(out, { key: 'a', index: 0 }, 1, 'submit').begin(false); // a later step's start: nothing
    await sleep(PROGRESS_INTERVAL_MS + 100);
    const lines = (await readFile(itemJournalFile(out), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => parseJournalLine(l));
    expect(
      lines.map(
        (l) => l && { state: l.state, attempt: l.attempt, ...('percent' in l ? { p: l.percent } : {}) },
      ),
    ).toEqual([
      { state: 'started', attempt: 1 },
      { state: 'progress', attempt: 1, p: 10 },
      { state: 'progress', attempt: 1, p: 30 },
      { state: 'attempt-failed', attempt: 1 },
      { state: 'retrying', attempt: 2 },
    ]);
    expect(lines[3]).toMatchObject({ error: 'boom line two', errorType: 'TransientTargetError' });
    expect(lines[4]).toMatchObject({ step: 'submit' });
  });
});

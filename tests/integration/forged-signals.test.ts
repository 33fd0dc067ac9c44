// Internal messages are taken only from the batch's own children. Any client can send any signal by
// name (the Web UI's "Send a Signal" takes any name and JSON): forged itemCompleted, itemsCompleted,
// itemBlocked, pageControl and pageCancelItem signals — null, wrong shapes, a well-formed outcome for
// a running item from a sender that does not hold it, unknown keys and pages — are ignored and
// logged. Measured at the target: never more than `concurrency` requests at once, every item sent
// exactly once, exact counts, queries answer, cancel still works. Real dev server, real worker.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelItemUpdate, setLimitsUpdate } from '../../workflows/messages';
import type { BatchProgress, ItemOutcome } from '../../workflows/types';
import {
  batchEnd,
  controlRows,
  finishedOf,
  key,
  liveProgress,
  readItems,
  updateRejection,
  waitFor,
} from '../helpers/engine';
import { engineHarness, type EngineHarness } from '../helpers/harness';

/** A well-formed outcome, as a child would send it: only the sender is wrong. */
function outcomeOf(index: number, status: ItemOutcome['status'] = 'succeeded'): ItemOutcome {
  const now = new Date().toISOString();
  return { index, key: key(index), status, attempts: 1, latencyMs: 1, startedAt: now, endedAt: now };
}

/** Progress within a few seconds: a batch whose workflow task fails cannot answer at all. */
async function answers(handle: WorkflowHandle): Promise<BatchProgress> {
  return await Promise.race([
    liveProgress(handle),
    sleep(5_000).then(() => {
      throw new Error('the progress query did not answer within 5 s');
    }),
  ]);
}

/** Every forged message an item-mode batch may receive, from a client that is not its child. */
function forgedToBatch(batchId: string, running: number[]): [string, unknown][] {
  const r = running[0]!;
  return [
    ['itemCompleted', null],
    ['itemCompleted', 42],
    ['itemCompleted', []],
    // An incomplete outcome of a running item (it used to free the item's slot and lose its count).
    ['itemCompleted', { key: key(r) }],
    ['itemCompleted', { ...outcomeOf(r), status: 'done' }],
    ['itemCompleted', { ...outcomeOf(r), steps: [null] }],
    // A complete outcome of a running item, naming its child, but not sent by it (no token).
    ['itemCompleted', { ...outcomeOf(r), childId: `${batchId}/${key(r)}` }],
    ['itemCompleted', { ...outcomeOf(running[1]!, 'failed'), token: 'guessed' }],
    // An item that is not in flight (not started yet), and one the batch does not have.
    ['itemCompleted', outcomeOf(9)],
    ['itemCompleted', { ...outcomeOf(3), key: 'NO-SUCH-ITEM' }],
    ['itemsCompleted', null],
    ['itemsCompleted', { childId: `${batchId}/page-0`, outcomes: [outcomeOf(r)], unfinished: 0 }],
    ['itemsCompleted', { childId: 7, outcomes: 'all', unfinished: -1 }],
    ['itemBlocked', null],
    ['itemBlocked', { key: key(r), errorType: 'ModuleLoadError', errorMessage: 'forged' }],
    ['itemBlocked', { key: key(r), errorType: 'ModuleLoadError', errorMessage: 'x', childId: 'other' }],
    ['pause', 'stop'],
    ['pause', { reason: { nested: true } }],
  ];
}

async function sendAll(handle: WorkflowHandle, signals: [string, unknown][]): Promise<void> {
  for (const [name, payload] of signals) await handle.signal(name, payload);
}

describe('forged internal signals', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('forged-signals');
  });
  afterAll(() => h?.close());

  it('per item: ignores every forged message; concurrency 2 holds at the target, counts are exact', async () => {
    // The first two items run long: the forged messages arrive while they hold both slots.
    const rows = controlRows(12, (i) => ({ delayMs: i < 2 ? 2_500 : 150 }));
    const b = await h.start('per-item', rows, { concurrency: 2 });
    await waitFor('two items running', async () => (await answers(b.handle)).running === 2);
    await sendAll(b.handle, forgedToBatch(b.batchId, [0, 1]));
    // The running item's own child: the parent's messages to it, forged.
    await sendAll(h.ctx.client.workflow.getHandle(`${b.batchId}/${key(0)}`), [
      ['reportBySignal', null],
      ['retryItem', { token: 'guessed' }],
    ]);

    const p = await answers(b.handle);
    expect(p).toMatchObject({ status: 'running', total: 12, running: 2, succeeded: 0, failed: 0 });
    expect(finishedOf(p) + p.running + p.pending).toBe(12);
    expect(b.target.stats().inFlight).toBe(2);

    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 12, succeeded: 12, failed: 0, cancelled: 0, skipped: 0 },
    });
    expect(b.target.stats()).toMatchObject({ maxInFlight: 2, requests: 12 });
    // Each item recorded once, with its real outcome (not the forged 1 ms one).
    const items = await readItems(b.outputDir);
    expect(items.map((i) => i.key).sort()).toEqual(rows.map((r) => r.id));
    expect(items.find((i) => i.key === key(0))!.latencyMs).toBeGreaterThanOrEqual(2_500);
    // Every forged message was logged as ignored by the worker.
    const log = await readFile(path.join(h.ctx.dir, 'worker.log'), 'utf8');
    expect(log).toContain('ignored itemCompleted signal: outcome is not an object');
    expect(log).toContain('ignored itemCompleted signal: not sent by the child that holds the item');
    expect(log).toContain('ignored itemBlocked signal: not sent by the child that holds the item');
    expect(log).toContain('ignored reportBySignal signal: not sent by the parent of this item');
    expect(log).toContain('ignored retryItem signal: not sent by the parent of this item');
  });

  it('public messages with wrong shapes are rejected with a clear message and change nothing', async () => {
    const b = await h.start(
      'public',
      controlRows(6, () => ({ delayMs: 400 })),
      { concurrency: 2 },
    );
    await waitFor('an item running', async () => (await answers(b.handle)).running > 0);
    const run = (update: typeof setLimitsUpdate | typeof cancelItemUpdate, arg: unknown) =>
      updateRejection(() =>
        b.handle.executeUpdate(update as typeof setLimitsUpdate, { args: [arg as never] }),
      );
    expect(await run(setLimitsUpdate, null)).toMatch(/setLimits needs an object/);
    expect(await run(setLimitsUpdate, { concurrency: 50, concurency: 3 })).toMatch(
      /setLimits takes only "concurrency", "rate" and "budget", not "concurency"/,
    );
    expect(await run(cancelItemUpdate, null)).toBe('cancelItem needs {"key": "<item key>"}');
    expect(await run(cancelItemUpdate, { key: 5 })).toBe('cancelItem needs {"key": "<item key>"}');
    await sendAll(b.handle, [
      ['pause', 7],
      ['resume', { anything: true }],
    ]);
    expect(await answers(b.handle)).toMatchObject({ status: 'running', concurrency: 2 });
    expect(await batchEnd(b.handle)).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', succeeded: 6 },
    });
    expect(b.target.stats()).toMatchObject({ maxInFlight: 2, requests: 6 });
  });

  it('pages: forged reports and controls are ignored; concurrency 2 holds across pages', async () => {
    const rows = controlRows(9, (i) => ({ delayMs: i < 2 ? 2_500 : 150 }));
    const b = await h.start('pages', rows, { concurrency: 2, itemsPerChild: 3 });
    await waitFor('two items running', () => b.target.stats().inFlight === 2);
    const page0 = `${b.batchId}/page-0`;
    await sendAll(b.handle, [
      ...forgedToBatch(b.batchId, [0, 1]),
      // The page that holds the items, named, but not sent by it: it would free both slots.
      ['itemsCompleted', { childId: page0, outcomes: [outcomeOf(0), outcomeOf(1)], unfinished: 1 }],
      ['itemsCompleted', { childId: page0, outcomes: [{ key: key(2) }], unfinished: 0, token: 'x' }],
    ]);
    // The page itself: forged controls (50 slots would run every item at once) and cancels.
    await sendAll(h.ctx.client.workflow.getHandle(page0), [
      ['pageControl', null],
      ['pageControl', { slots: 50, paused: false }],
      ['pageControl', { slots: 50, paused: false, token: 'guessed' }],
      ['pageControl', { slots: -1, paused: 'no' }],
      ['pageCancelItem', null],
      ['pageCancelItem', { key: key(2) }],
      ['retryItem', null],
    ]);
    const p = await answers(b.handle);
    expect(p).toMatchObject({ status: 'running', total: 9, succeeded: 0, failed: 0, skipped: 0 });
    expect(finishedOf(p) + p.running + p.pending).toBe(9);

    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 9, succeeded: 9, failed: 0, cancelled: 0, skipped: 0 },
    });
    expect(b.target.stats()).toMatchObject({ maxInFlight: 2, requests: 9 });
    const items = await readItems(b.outputDir);
    expect(items.map((i) => i.key).sort()).toEqual(rows.map((r) => r.id));
    const log = await readFile(path.join(h.ctx.dir, 'worker.log'), 'utf8');
    expect(log).toContain('ignored pageControl signal: not sent by the parent of this page');
    expect(log).toContain('ignored pageCancelItem signal: not sent by the parent of this page');
    expect(log).toContain('ignored retryItem signal: not sent by the parent of this page');
    expect(log).toContain('ignored itemsCompleted signal: not sent by a page of this batch');
  });

  it('a batch that received forged messages still cancels, with counts that add up', async () => {
    const b = await h.start(
      'cancel',
      controlRows(10, () => ({ delayMs: 1_000 })),
      { concurrency: 2 },
    );
    await waitFor('two items running', async () => (await answers(b.handle)).running === 2);
    await sendAll(b.handle, forgedToBatch(b.batchId, [0, 1]));
    await b.handle.cancel();
    const end = await Promise.race([
      batchEnd(b.handle),
      sleep(30_000).then(() => {
        throw new Error('the cancelled batch did not end within 30 s');
      }),
    ]);
    expect(end).toEqual({ kind: 'cancelled' });
    const items = await readItems(b.outputDir);
    expect(items).toHaveLength(10);
    const succeeded = items.filter((i) => i.status === 'succeeded').length;
    expect(succeeded + items.filter((i) => i.status === 'cancelled').length).toBe(10);
    // Each request sent is an item that succeeded or was running when the batch was cancelled.
    const { requests, maxInFlight } = b.target.stats();
    expect(requests).toBeGreaterThanOrEqual(succeeded);
    expect(requests).toBeLessThanOrEqual(succeeded + 2);
    expect(maxInFlight).toBe(2);
  });

  it('replays every history of the batches above without nondeterminism', async () => {
    const [replayed, listed] = await h.replayAll();
    expect(listed).toBeGreaterThan(h.batchIds.length);
    expect(replayed).toBe(listed);
  });
});

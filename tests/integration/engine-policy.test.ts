// The failure policy and retry classification, on a real dev server against a real HTTP target:
// failFast, maxFailures, maxFailureRate, no policy, and retryable vs non-retryable answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ItemOutcome } from '../../workflows/types';
import {
  batchEnd,
  childIds,
  controlRows,
  finishedOf,
  key,
  readItems,
  readSummary,
  receivedFor,
  tally,
} from '../helpers/engine';
import { engineHarness, type EngineHarness } from '../helpers/harness';

/** Items by key from items.jsonl. */
async function itemsByKey(outputDir: string): Promise<Map<string, ItemOutcome>> {
  return new Map((await readItems(outputDir)).map((i) => [i.key, i]));
}

describe('engine: failure policy and retries', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('engine-policy');
  });
  afterAll(() => h?.close());

  it('failFast: the first failure fails the batch, cancels in-flight items and starts no more', async () => {
    // K0003 fails at once (400) while K0001, K0002 and K0004 are in flight (5 s each: a cancel reaches
    // a running item with its next heartbeat, within about a second, so a shorter item could finish).
    const rows = controlRows(20, (i) => (i === 2 ? { status: 400 } : { delayMs: 5_000 }));
    const b = await h.start('failfast', rows, { concurrency: 4, failFast: true });
    const end = await batchEnd(b.handle);
    expect(end.kind).toBe('failed');
    if (end.kind !== 'failed') return;
    expect(end.message).toContain('fail-fast');

    const items = await itemsByKey(b.outputDir);
    expect(items.size).toBe(20);
    expect(items.get('K0003')).toMatchObject({
      status: 'failed',
      errorType: 'PermanentTargetError',
      attempts: 1,
    });
    for (const k of ['K0001', 'K0002', 'K0004']) {
      expect(items.get(k), k).toMatchObject({ status: 'cancelled', errorType: 'Cancelled' });
    }
    // No item starts once the policy is breached: K0005 (next in line when K0003's slot freed) never ran.
    expect(items.get('K0005'), 'K0005 started after the fail-fast breach').toMatchObject({
      status: 'cancelled',
      errorType: 'NotStarted',
    });
    expect(tally([...items.values()])).toEqual({
      'failed/PermanentTargetError': 1,
      'cancelled/Cancelled': 3,
      'cancelled/NotStarted': 16,
    });
    const expected = { status: 'failed', total: 20, succeeded: 0, failed: 1, skipped: 0, cancelled: 19 };
    expect(end.progress).toMatchObject({ ...expected, running: 0, pending: 0 });
    expect(await readSummary(b.outputDir)).toMatchObject(expected);
    expect(await childIds(h.ctx.client, b.batchId)).toHaveLength(4);
    expect(await childIds(h.ctx.client, b.batchId, { running: true })).toEqual([]);
  });

  it('maxFailures 2: the batch fails at the third failure, exactly', async () => {
    // Concurrency 1, so items run in order: K0003, K0006 and K0009 are the first three failures.
    const failing = new Set([2, 5, 8, 11, 14]);
    const rows = controlRows(30, (i) => (failing.has(i) ? { status: 400 } : {}));
    const b = await h.start('maxfail', rows, { concurrency: 1, maxFailures: 2 });
    const end = await batchEnd(b.handle);
    expect(end.kind).toBe('failed');
    if (end.kind !== 'failed') return;
    expect(end.message).toContain('3 items failed, more than --max-failures 2');

    const items = await itemsByKey(b.outputDir);
    expect(items.get('K0010'), 'K0010 started after the max-failures breach').toMatchObject({
      status: 'cancelled',
      errorType: 'NotStarted',
    });
    const all = [...items.values()];
    expect(all.filter((i) => i.status === 'failed').map((i) => i.key)).toEqual(['K0003', 'K0006', 'K0009']);
    expect(tally(all)).toEqual({
      succeeded: 6,
      'failed/PermanentTargetError': 3,
      'cancelled/NotStarted': 21,
    });
    const expected = { status: 'failed', total: 30, succeeded: 6, failed: 3, skipped: 0, cancelled: 21 };
    expect(end.progress).toMatchObject({ ...expected, running: 0, pending: 0 });
    expect(await readSummary(b.outputDir)).toMatchObject(expected);
    expect(await childIds(h.ctx.client, b.batchId)).toHaveLength(9);
    expect(b.target.stats().requests).toBe(9);
  });

  it('maxFailureRate 20 with half the items failing: the batch fails once 10 items are judged', async () => {
    const rows = controlRows(20, (i) => (i % 2 === 1 ? { status: 400 } : {}));
    const b = await h.start('maxrate', rows, { concurrency: 1, maxFailureRate: 20 });
    const end = await batchEnd(b.handle);
    expect(end.kind).toBe('failed');
    if (end.kind !== 'failed') return;
    expect(end.message).toContain('failure rate 50.0% exceeds --max-failure-rate 20%');

    const items = await itemsByKey(b.outputDir);
    expect(items.get('K0011'), 'K0011 started after the max-failure-rate breach').toMatchObject({
      status: 'cancelled',
      errorType: 'NotStarted',
    });
    const expected = { status: 'failed', total: 20, succeeded: 5, failed: 5, skipped: 0, cancelled: 10 };
    expect(end.progress).toMatchObject({ ...expected, running: 0, pending: 0 });
    expect(await readSummary(b.outputDir)).toMatchObject(expected);
    expect(finishedOf(end.progress)).toBe(20);
    expect(await childIds(h.ctx.client, b.batchId)).toHaveLength(10);
  });

  it('without a policy, failures make a partial_failure with exact counts', async () => {
    const failing = [0, 4, 9, 14, 19];
    const rows = controlRows(20, (i) => (failing.includes(i) ? { status: 400 } : {}));
    const b = await h.start('nopolicy', rows, { concurrency: 4 });
    const end = await batchEnd(b.handle);
    const expected = {
      status: 'partial_failure',
      total: 20,
      succeeded: 15,
      failed: 5,
      skipped: 0,
      cancelled: 0,
    };
    expect(end).toMatchObject({ kind: 'returned', progress: { ...expected, running: 0, pending: 0 } });
    if (end.kind !== 'returned') return;
    expect(end.progress.errorsByType).toEqual({ PermanentTargetError: 5 });
    expect(await readSummary(b.outputDir)).toMatchObject(expected);
    const failed = (await readItems(b.outputDir)).filter((i) => i.status === 'failed').map((i) => i.key);
    expect(failed.sort()).toEqual(failing.map(key));
    expect((await h.ctx.batches.failures(b.batchId)).map((f) => f.key).sort()).toEqual(failing.map(key));
  });

  it('retries transient answers: failAttempts=2 with maxAttempts 3 succeeds on attempt 3', async () => {
    const b = await h.start(
      'retry-pass',
      controlRows(3, () => ({ failAttempts: 2 })),
      { maxAttempts: 3 },
    );
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', succeeded: 3, failed: 0 },
    });
    const items = (await readItems(b.outputDir)).sort((x, y) => x.index - y.index);
    expect(items.map((i) => [i.key, i.status, i.attempts, i.httpStatus])).toEqual([
      ['K0001', 'succeeded', 3, 201],
      ['K0002', 'succeeded', 3, 201],
      ['K0003', 'succeeded', 3, 201],
    ]);
    const received = receivedFor(b.target, b.batchId);
    expect(received.size).toBe(3);
    for (const r of received.values()) expect(r).toEqual({ attempts: 3, effects: 1 });
  });

  it('a retryable status exhausts maxAttempts; a permanent one fails at once', async () => {
    const statuses = [503, 422, 0];
    const b = await h.start(
      'retry-classes',
      controlRows(3, (i) => ({ status: statuses[i] })),
      { maxAttempts: 2 },
    );
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'partial_failure', succeeded: 1, failed: 2 },
    });
    if (end.kind !== 'returned') return;
    expect(end.progress.errorsByType).toEqual({ TransientTargetError: 1, PermanentTargetError: 1 });
    const items = await itemsByKey(b.outputDir);
    expect(items.get('K0001')).toMatchObject({
      status: 'failed',
      attempts: 2,
      errorType: 'TransientTargetError',
      httpStatus: 503,
    });
    expect(items.get('K0002')).toMatchObject({
      status: 'failed',
      attempts: 1,
      errorType: 'PermanentTargetError',
      httpStatus: 422,
    });
    expect(items.get('K0003')).toMatchObject({ status: 'succeeded', attempts: 1, httpStatus: 201 });
    const received = receivedFor(b.target, b.batchId);
    expect(received.get('K0001')).toEqual({ attempts: 2, effects: 0 });
    expect(received.get('K0002')).toEqual({ attempts: 1, effects: 0 });
    expect(received.get('K0003')).toEqual({ attempts: 1, effects: 1 });
  });

  it('replays every history of the batches above without nondeterminism', async () => {
    const [replayed, listed] = await h.replayAll();
    expect(listed).toBeGreaterThan(h.batchIds.length);
    expect(replayed).toBe(listed);
  });
});

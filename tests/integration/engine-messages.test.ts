// The engine under operator control, on a real dev server against a real HTTP target: the concurrency
// window, the progress invariant, pause/resume, setLimits, cancelItem, and cancelling a batch that
// has continued-as-new.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelItemUpdate } from '../../workflows/messages';
import {
  batchEnd,
  childIds,
  controlRows,
  finishedOf,
  liveProgress,
  readItems,
  readSummary,
  receivedFor,
  updateRejection,
  waitFor,
} from '../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../helpers/harness';
import { startBatchDirect } from '../helpers/start-direct';

describe('engine: limits and operator messages', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('engine-messages');
  });
  afterAll(() => h?.close());

  it('keeps exactly `concurrency` items in flight at the target', async () => {
    const b = await h.start(
      'conc',
      controlRows(30, () => ({ delayMs: 300 })),
      { concurrency: 4 },
    );
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 30, succeeded: 30 },
    });
    expect(b.target.stats()).toMatchObject({ maxInFlight: 4, requests: 30 });
  });

  it('reports counts that always add up to total, with running <= concurrency', async () => {
    const b = await h.start(
      'invariant',
      controlRows(60, () => ({ delayMs: 150 })),
      { concurrency: 6 },
    );
    let done = false;
    const ended = batchEnd(b.handle).finally(() => (done = true));
    const polls: { finished: number; running: number; concurrency: number }[] = [];
    while (!done) {
      const p = await liveProgress(b.handle);
      expect(finishedOf(p) + p.running + p.pending, JSON.stringify(p)).toBe(60);
      expect(p.total).toBe(60);
      polls.push({ finished: finishedOf(p), running: p.running, concurrency: p.concurrency });
      await sleep(50);
    }
    expect(polls.length).toBeGreaterThan(20);
    expect(polls.every((p) => p.running <= p.concurrency && p.concurrency === 6)).toBe(true);
    expect(polls.some((p) => p.running === 6)).toBe(true);
    // Finished never goes backwards between polls.
    expect(polls.every((p, i) => i === 0 || p.finished >= polls[i - 1]!.finished)).toBe(true);
    expect(await ended).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', succeeded: 60, running: 0, pending: 0 },
    });
  });

  it('pause stops new starts once in-flight items drain; resume completes the batch', async () => {
    const b = await h.start(
      'pause',
      controlRows(20, () => ({ delayMs: 200 })),
      { concurrency: 2 },
    );
    await waitFor('4 items done', async () => (await liveProgress(b.handle)).succeeded >= 4);
    await h.ctx.batches.pause(b.batchId, 'test pause');
    const drained = await waitFor('in-flight items to drain', async () => {
      const p = await liveProgress(b.handle);
      return p.running === 0 ? p : undefined;
    });
    const requestsAtDrain = b.target.stats().requests;
    await sleep(2_000);
    const later = await liveProgress(b.handle);
    expect(later).toMatchObject({
      status: 'paused',
      statusReason: 'test pause',
      running: 0,
      succeeded: drained.succeeded,
    });
    expect(later.succeeded).toBeLessThan(20);
    expect(later.pending).toBe(20 - later.succeeded);
    expect(b.target.stats()).toMatchObject({ requests: requestsAtDrain, inFlight: 0 });

    await h.ctx.batches.resume(b.batchId);
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', succeeded: 20, failed: 0, cancelled: 0 },
    });
    expect(b.target.stats()).toMatchObject({ requests: 20, maxInFlight: 2 });
  });

  it('setLimits raises concurrency and rejects invalid limits while the batch keeps running', async () => {
    const b = await h.start(
      'limits',
      // Later items are slow, so six of them overlap at the target even on a loaded machine.
      controlRows(36, (i) => ({ delayMs: i < 4 ? 300 : 1_500 })),
      { concurrency: 2 },
    );
    await waitFor('2 items done', async () => (await liveProgress(b.handle)).succeeded >= 2);
    expect(b.target.stats().maxInFlight).toBe(2);

    const limits = await h.ctx.batches.setLimits(b.batchId, { concurrency: 6 });
    expect(limits.concurrency).toBe(6);
    expect(limits.rate ?? null).toBeNull();
    expect((await liveProgress(b.handle)).concurrency).toBe(6);

    for (const concurrency of [0, -1, 1001, 2.5]) {
      const message = await updateRejection(() => h.ctx.batches.setLimits(b.batchId, { concurrency }));
      expect(message).toContain('concurrency must be');
      expect(message).toContain(`got ${concurrency}`);
    }
    const rateMessage = await updateRejection(() => h.ctx.batches.setLimits(b.batchId, { rate: -1 }));
    expect(rateMessage).toContain('rate must be');
    expect(await liveProgress(b.handle)).toMatchObject({ status: 'running', concurrency: 6, rate: null });

    await waitFor('6 requests in flight at the target', () => b.target.stats().maxInFlight >= 6, 30_000);
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', succeeded: 36, concurrency: 6 },
    });
    expect(b.target.stats().maxInFlight).toBe(6);
  });

  it('cancelItem skips a pending item and rejects an unknown key', async () => {
    const b = await h.start(
      'cancel-pending',
      controlRows(8, () => ({ delayMs: 300 })),
      { concurrency: 1 },
    );
    const cancelItem = (key: string) => b.handle.executeUpdate(cancelItemUpdate, { args: [{ key }] });
    await waitFor('first item running', async () => (await liveProgress(b.handle)).running === 1);
    expect(await cancelItem('K0008')).toEqual({ key: 'K0008', action: 'skipped' });
    // Asking again is harmless and not counted twice.
    expect(await cancelItem('K0008')).toEqual({ key: 'K0008', action: 'skipped' });
    // Two cancels of one pending item at once: both look it up before either records it, and the
    // second finds it skipped (counted once, not twice).
    expect(await Promise.all([cancelItem('K0007'), cancelItem('K0007')])).toEqual([
      { key: 'K0007', action: 'skipped' },
      { key: 'K0007', action: 'skipped' },
    ]);
    expect(await updateRejection(() => cancelItem('NOPE'))).toContain('no item with key');
    const mid = await liveProgress(b.handle);
    expect(mid.skipped).toBe(2);
    expect(finishedOf(mid) + mid.running + mid.pending).toBe(8);

    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: {
        status: 'completed',
        total: 8,
        succeeded: 6,
        skipped: 2,
        failed: 0,
        cancelled: 0,
        running: 0,
        pending: 0,
      },
    });
    const items = await readItems(b.outputDir);
    expect(items).toHaveLength(8);
    expect(items.filter((i) => i.key === 'K0007')).toHaveLength(1);
    expect(items.find((i) => i.key === 'K0008')).toMatchObject({
      status: 'skipped',
      errorType: 'CancelledBeforeStart',
    });
    expect(receivedFor(b.target, b.batchId).has('K0008')).toBe(false);
    expect(receivedFor(b.target, b.batchId).has('K0007')).toBe(false);
    expect(b.target.stats().requests).toBe(6);
    expect(await childIds(h.ctx.client, b.batchId)).toHaveLength(6);
  });

  it('cancelItem cancels a running item; the batch goes on and ends with exact counts', async () => {
    const rows = controlRows(6, (i) => ({ delayMs: i === 0 ? 20_000 : 0 }));
    const b = await h.start('cancel-running', rows, { concurrency: 3 });
    const cancelItem = (key: string) => b.handle.executeUpdate(cancelItemUpdate, { args: [{ key }] });
    await waitFor('the fast items done', async () => {
      const p = await liveProgress(b.handle);
      return p.succeeded === 5 && p.running === 1;
    });
    // Asked first: once K0001 is cancelled the batch may end at once, and then every cancelItem is
    // refused because the batch is ending.
    expect(await updateRejection(() => cancelItem('K0002'))).toContain('already finished');
    const asked = Date.now();
    expect(await cancelItem('K0001')).toEqual({ key: 'K0001', action: 'cancelling' });

    const end = await batchEnd(b.handle);
    expect(Date.now() - asked).toBeLessThan(10_000);
    // A cancelled item is not a failure: the batch ends `completed` when no item failed.
    expect(end).toMatchObject({
      kind: 'returned',
      progress: {
        status: 'completed',
        total: 6,
        succeeded: 5,
        cancelled: 1,
        failed: 0,
        skipped: 0,
        running: 0,
        pending: 0,
      },
    });
    const items = await readItems(b.outputDir);
    expect(items).toHaveLength(6);
    expect(items.find((i) => i.key === 'K0001')).toMatchObject({
      status: 'cancelled',
      errorType: 'Cancelled',
    });
    const child = await h.ctx.client.workflow.getHandle(`${b.batchId}/K0001`).describe();
    expect(child.status.name).toBe('CANCELLED');
  });

  it('cancels a batch that continued-as-new: every child closes, the report says cancelled', async () => {
    const { ctx } = h;
    const t = await h.target();
    const { batchId, csv } = await h.source(
      'cancel-can',
      controlRows(150, () => ({ delayMs: 300 })),
    );
    const config = ctx.config({ batchId, idColumn: 'id', concurrency: 8, http: { url: controlUrl(t) } });
    const { handle, outputDir } = await startBatchDirect(ctx, csv, config, { continueAsNewAfterEvents: 200 });

    const before = await waitFor(
      'the batch to continue-as-new',
      async () => {
        const p = await ctx.batches.progress(batchId);
        return p.runNumber >= 2 ? p : undefined;
      },
      60_000,
      100,
    );
    expect(before.status).toBe('running');
    expect(finishedOf(before)).toBeLessThan(150);
    await ctx.batches.cancel(batchId);

    expect(await batchEnd(handle)).toEqual({ kind: 'cancelled' });
    const summary = await readSummary(outputDir);
    expect(summary).toMatchObject({
      status: 'cancelled',
      total: 150,
      running: 0,
      pending: 0,
      failed: 0,
      skipped: 0,
    });
    expect(summary.runNumber).toBeGreaterThanOrEqual(2);
    expect(summary.cancelled).toBeGreaterThan(0);
    expect(finishedOf(summary)).toBe(150);

    const items = await readItems(outputDir);
    expect(items).toHaveLength(150);
    expect(new Set(items.map((i) => i.key)).size).toBe(150);
    expect(items.filter((i) => i.status === 'succeeded')).toHaveLength(summary.succeeded);
    expect(items.filter((i) => i.status === 'cancelled')).toHaveLength(summary.cancelled);
    const started = items.filter((i) => i.errorType !== 'NotStarted');

    // Every child that was started is closed when the batch ends: the parent waits for the close,
    // not only for the child's report (describe is authoritative; visibility trails a little).
    const statuses = await Promise.all(
      started.map(
        async (i) => (await ctx.client.workflow.getHandle(`${batchId}/${i.key}`).describe()).status.name,
      ),
    );
    expect(statuses.filter((s) => s === 'RUNNING')).toEqual([]);
    await waitFor(
      'every child to close',
      async () => (await childIds(ctx.client, batchId, { running: true })).length === 0,
      15_000,
      200,
    );
    expect((await childIds(ctx.client, batchId)).sort()).toEqual(
      started.map((i) => `${batchId}/${i.key}`).sort(),
    );

    // Nothing is still sent to the target: requests drain (the target finishes its own 300 ms delay
    // of aborted requests), and no new request arrives afterwards.
    await waitFor('the target to have no request in flight', () => t.stats().inFlight === 0, 2_000);
    const requests = t.stats().requests;
    await sleep(1_500);
    expect(t.stats()).toMatchObject({ requests, inFlight: 0 });
    // Each started item sent at most one request (no retries here); a cancelled one maybe none.
    expect(requests).toBeGreaterThanOrEqual(summary.succeeded);
    expect(requests).toBeLessThanOrEqual(started.length);
  });

  it('replays every history of the batches above without nondeterminism', async () => {
    const [replayed, listed] = await h.replayAll();
    expect(listed).toBeGreaterThan(h.batchIds.length);
    expect(replayed).toBe(listed);
  });
});

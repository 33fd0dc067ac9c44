// Runner mode (`--items-per-child N --item-execution runner`): a page's items run inside one
// heartbeating runner activity, with no history event per item. Every guarantee of page mode holds
// (tests/integration/page-mode.test.ts is the model): the concurrency limit across pages, retries
// with the batch's policy, pause, live limits, cancelling one item or the batch, failure policies,
// budgets, exact counts at every poll, result files, and determinism on replay.
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allSucceeded,
  batchEnd,
  controlRows,
  finishedOf,
  key,
  liveProgress,
  listIds,
  quietTarget,
  readSummary,
  readItems,
  tally,
  waitFor,
} from '../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../helpers/harness';
import { createTestContext } from '../helpers/context';
import { writeCsv } from '../helpers/files';
import { startRetryFailed } from '../../src/client/retry-failed';

describe('runner mode', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('runner-mode');
  });
  afterAll(async () => {
    await h?.close();
  });

  const pagesOf = (batchId: string) =>
    listIds(h.ctx.client, `BatchId = "${batchId}" AND WorkflowType = "pageWorkflow"`);

  /** History events of the batch's workflows (parent runs and pages). */
  async function eventsOf(batchId: string): Promise<number> {
    let events = 0;
    for await (const wf of h.ctx.client.workflow.list({ query: `BatchId = "${batchId}"` })) {
      events += wf.historyLength;
    }
    return events;
  }

  it('runs 600 items in runner pages: at most `concurrency` in flight, exact counts, few events', async () => {
    const b = await h.start(
      'runner',
      controlRows(600, () => ({ delayMs: 10 })),
      { itemsPerChild: 250, itemExecution: 'runner', concurrency: 8 },
    );
    let polls = 0;
    for (;;) {
      const p = await liveProgress(b.handle);
      expect(finishedOf(p) + p.running + p.pending).toBe(600);
      expect(p.running).toBeLessThanOrEqual(8);
      polls += 1;
      if (p.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(polls).toBeGreaterThan(2);
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: allSucceeded(600) });
    expect(b.target.stats().effects).toBe(600);
    expect(b.target.received().every((r) => r.effects === 1)).toBe(true);
    expect(b.target.stats().maxInFlight).toBeLessThanOrEqual(8);
    expect((await pagesOf(b.batchId)).sort()).toEqual(
      [`${b.batchId}/page-0`, `${b.batchId}/page-250`, `${b.batchId}/page-500`].sort(),
    );
    const items = await readItems(b.outputDir);
    expect(items.map((i) => i.key).sort()).toEqual(controlRows(600).map((r) => r.id));
    expect(tally(items)).toEqual({ succeeded: 600 });
    expect(items.every((i) => i.attempts === 1)).toBe(true);
    // No event per item: the pages' and the parent's histories hold far fewer than one per item.
    const events = await eventsOf(b.batchId);
    expect(events / 600).toBeLessThan(0.5);
  });

  it('retries with the batch policy: attempts counted, non-retryable failures not retried', async () => {
    const rows = controlRows(120, (i) => ({
      failAttempts: i % 10 === 0 ? 2 : 0,
      status: i === 7 ? 422 : 0,
    }));
    const b = await h.start('runner-retries', rows, {
      itemsPerChild: 50,
      itemExecution: 'runner',
      concurrency: 10,
      initialIntervalMs: 50,
    });
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'returned' });
    const items = await readItems(b.outputDir);
    expect(tally(items)).toEqual({ succeeded: 119, 'failed/PermanentTargetError': 1 });
    const retried = items.filter((i) => i.attempts === 3).map((i) => i.key);
    expect(retried.sort()).toEqual(
      controlRows(120)
        .filter((_, i) => i % 10 === 0)
        .map((r) => r.id),
    );
    const failed = items.find((i) => i.status === 'failed')!;
    expect(failed).toMatchObject({ key: key(7), attempts: 1, httpStatus: 422 });
    expect(b.target.stats().effects).toBe(119);
  });

  it('pause: no item starts once acknowledged; setLimits takes effect live; resume completes', async () => {
    const b = await h.start(
      'runner-ops',
      controlRows(80, () => ({ delayMs: 300 })),
      { itemsPerChild: 40, itemExecution: 'runner', concurrency: 4 },
    );
    await waitFor('a few items done', async () => (await liveProgress(b.handle)).succeeded >= 4);
    await h.ctx.batches.pause(b.batchId, 'checking');
    const paused = await waitFor('in-flight items drained', async () => {
      const p = await liveProgress(b.handle);
      return p.status === 'paused' && p.running === 0 && b.target.stats().inFlight === 0 ? p : undefined;
    });
    const requestsWhenPaused = b.target.stats().requests;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(b.target.stats().requests).toBe(requestsWhenPaused); // nothing started while paused
    expect(paused.succeeded).toBe(requestsWhenPaused);
    expect(finishedOf(paused) + paused.pending).toBe(80);

    await h.ctx.batches.setLimits(b.batchId, { concurrency: 9 });
    await h.ctx.batches.resume(b.batchId);
    const asked = Date.now();
    // The raised limit reaches the runners at their next poll (250 ms) and the page's next control.
    await waitFor('more than 4 items in flight', () => b.target.stats().inFlight > 4, 5_000);
    const tookMs = Date.now() - asked;
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: allSucceeded(80) });
    expect(b.target.stats().maxInFlight).toBeLessThanOrEqual(9);
    expect(b.target.stats().effects).toBe(80);
    expect(tookMs).toBeLessThan(5_000);
  });

  it('cancels a running item within 2 s (request aborted) and a pending one, then the batch: exact counts', async () => {
    const rows = controlRows(40, (i) => ({ delayMs: i === 0 ? 60_000 : 400 }));
    const b = await h.start('runner-cancel', rows, {
      itemsPerChild: 10,
      itemExecution: 'runner',
      concurrency: 2,
    });
    await waitFor('K0001 running at the target', () => b.target.stats().inFlight >= 1);
    const asked = Date.now();
    expect(await h.ctx.batches.cancelItem(b.batchId, key(0))).toEqual({ key: key(0), action: 'cancelling' });
    // K0005 is in the first page, not started yet (concurrency 2): skipped by the runner.
    expect(await h.ctx.batches.cancelItem(b.batchId, key(4))).toEqual({ key: key(4), action: 'cancelling' });
    // K0035 is in a page not started yet: skipped by the parent.
    expect(await h.ctx.batches.cancelItem(b.batchId, key(34))).toEqual({ key: key(34), action: 'skipped' });
    await waitFor('K0001 aborted at the target', () => b.target.stats().abandoned === 1, 5_000);
    expect(b.target.stats().lastAbandonedAt! - asked).toBeLessThan(2_000);
    await waitFor('some more done', async () => (await liveProgress(b.handle)).succeeded >= 6);
    await h.ctx.batches.cancel(b.batchId);
    expect(await batchEnd(b.handle)).toEqual({ kind: 'cancelled' });
    const p = await h.ctx.batches.progress(b.batchId);
    expect(p).toMatchObject({
      status: 'cancelled',
      total: 40,
      failed: 0,
      skipped: 2,
      running: 0,
      pending: 0,
    });
    expect(p.succeeded + p.cancelled).toBe(38);
    const items = await readItems(b.outputDir);
    const byKey = new Map(items.map((i) => [i.key, i]));
    expect(byKey.get(key(0))).toMatchObject({ status: 'cancelled', errorType: 'Cancelled', attempts: 1 });
    expect(byKey.get(key(4))).toMatchObject({ status: 'skipped', errorType: 'CancelledBeforeStart' });
    expect(byKey.get(key(34))).toMatchObject({ status: 'skipped', errorType: 'CancelledBeforeStart' });
    // K0001's request was aborted, and so were those of the items running when the batch was
    // cancelled that had reached the target (one may have been about to send its request).
    const abortedWhileRunning = items.filter((i) => i.status === 'cancelled' && i.errorType === 'Cancelled');
    expect(b.target.stats().abandoned).toBeGreaterThanOrEqual(1);
    expect(b.target.stats().abandoned).toBeLessThanOrEqual(abortedWhileRunning.length);
    // Nothing acts on the target once the batch is cancelled.
    expect(b.target.stats().inFlight).toBe(0);
  });

  it('retry-failed runs exactly the failed items again, in runner mode; the report counts them', async () => {
    const rows = controlRows(30, (i) => ({ status: i % 10 === 3 ? 422 : 0 }));
    const b = await h.start('runner-retry', rows, {
      itemsPerChild: 10,
      itemExecution: 'runner',
      concurrency: 4,
    });
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'partial_failure', succeeded: 27, failed: 3 },
    });
    const summary = await readSummary(b.outputDir);
    expect(summary).toMatchObject({ total: 30, succeeded: 27, failed: 3 });
    // The retry sends the failed rows (their 422 column included) again, with the same keys.
    const retried = await startRetryFailed(h.ctx.batches, b.batchId, { batchId: `${b.batchId}-retry` });
    h.batchIds.push(retried.batchId);
    const again = await batchEnd(retried.handle);
    expect(again).toMatchObject({ kind: 'returned', progress: { total: 3, failed: 3 } });
    expect((await retried.handle.describe()).memo).toMatchObject({ retryOf: b.batchId, total: 3 });
    const items = await readItems(retried.outputDir);
    expect(items.map((i) => i.key).sort()).toEqual([key(3), key(13), key(23)]);
    // Runner mode carried over: the retry ran in a runner page, not in item children.
    expect(await pagesOf(retried.batchId)).toEqual([`${retried.batchId}/page-0`]);
  });

  it('fail-fast ends a runner-mode batch as failed', async () => {
    const rows = controlRows(50, (i) => ({ status: i === 12 ? 422 : 0, delayMs: 50 }));
    const b = await h.start('runner-failfast', rows, {
      itemsPerChild: 10,
      itemExecution: 'runner',
      concurrency: 3,
      failFast: true,
    });
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'failed', progress: { status: 'failed', failed: 1, total: 50 } });
    if (end.kind !== 'failed') return;
    expect(finishedOf(end.progress)).toBe(50);
    expect(end.progress.succeeded).toBeLessThan(50);
    expect(b.target.stats().inFlight).toBe(0);
  });

  it("the page's Current Details list its items' states", async () => {
    const b = await h.start(
      'runner-details',
      controlRows(30, (i) => ({ delayMs: i < 2 ? 3_000 : 10 })),
      { itemsPerChild: 30, itemExecution: 'runner', concurrency: 2 },
    );
    const details = await waitFor('the runner to report its running items', async () => {
      const text = await currentDetails(b.batchId).catch(() => ''); // the page may not exist yet
      return text.includes(`${key(0)}: running`) ? text : undefined;
    });
    expect(details).toContain('pending **28**');
    expect(details).toContain('running **2**');
    expect(await batchEnd(b.handle)).toMatchObject({ kind: 'returned', progress: allSucceeded(30) });
  });

  /** The first page's Current Details (Temporal's built-in metadata query). */
  async function currentDetails(batchId: string): Promise<string> {
    const meta = await h.ctx.client.workflow
      .getHandle(`${batchId}/page-0`)
      .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    return meta.currentDetails ?? '';
  }

  it('a worker stopping mid-page: done items are never sent again, attempts of items in flight count on', async () => {
    // A context of its own: this test stops its worker and starts another.
    const ctx = await createTestContext('runner-stop');
    const target = await quietTarget();
    try {
      const first = await ctx.startWorker({ identity: 'first' });
      const rows = controlRows(100, (i) => ({ delayMs: 150, failAttempts: i === 0 ? 2 : 0 }));
      const batchId = `runner-stop-${Date.now()}`;
      const csv = await writeCsv(ctx.dir, `${batchId}.csv`, rows);
      const config = ctx.config({
        batchId,
        idColumn: 'id',
        http: { url: controlUrl(target) },
        itemsPerChild: 100,
        itemExecution: 'runner',
        concurrency: 5,
        // K0001 fails its first attempt, then waits 4 s to retry: the worker stops meanwhile.
        initialIntervalMs: 4_000,
        heartbeatTimeoutMs: 2_000,
      });
      const b = await ctx.batches.start(csv, config);
      await waitFor('40 items done', async () => (await liveProgress(b.handle)).succeeded >= 40);
      // The runner's heartbeat details, as the server holds them, carry K0001's attempt (item 0).
      await waitFor('K0001 in the runner heartbeat', async () => {
        const d = await ctx.client.workflow.getHandle(`${batchId}/page-0`).describe();
        const details = d.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
        const beat = details
          ? defaultPayloadConverter.fromPayload<{ attempts: number[][] }>(details)
          : undefined;
        return beat?.attempts.some(([index, attempt]) => index === 0 && attempt! >= 1);
      });
      await first.shutdown();
      const stoppedAt = target.stats().requests;
      await ctx.startWorker({ identity: 'second' });
      const end = await batchEnd(b.handle);
      expect(end).toMatchObject({ kind: 'returned', progress: allSucceeded(100) });
      expect(target.stats().effects).toBe(100);
      // Sent twice: only what was in flight when the first worker stopped (at most `concurrency`),
      // and K0001's failed attempts; never an item the page had recorded.
      const again = target
        .received()
        .filter((r) => r.attempts > 1 && !r.idempotencyKey.endsWith(`:${key(0)}`))
        .map((r) => r.idempotencyKey);
      expect(again.length).toBeLessThanOrEqual(5);
      expect(target.stats().requests).toBeLessThanOrEqual(100 + 2 + 5);
      expect(stoppedAt).toBeGreaterThanOrEqual(40);
      const items = await readItems(b.outputDir);
      expect(tally(items)).toEqual({ succeeded: 100 });
      // K0001's attempts went on counting in the second worker: 3, as the target saw them.
      const k1 = items.find((i) => i.key === key(0))!;
      const seen = target.received().find((r) => r.idempotencyKey.endsWith(`:${key(0)}`));
      expect({ target: seen?.attempts, outcome: k1.attempts }).toEqual({ target: 3, outcome: 3 });
      h.batchIds.push(batchId);
    } finally {
      await ctx.close();
      await target.close();
    }
  });

  it('replays every history of the batches above without nondeterminism', async () => {
    const [replayed, listed] = await h.replayAll();
    expect(replayed).toBe(listed);
    expect(listed).toBeGreaterThan(8);
  });
});

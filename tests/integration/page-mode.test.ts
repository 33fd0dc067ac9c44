// Page mode (`--items-per-child N`): one child workflow per N consecutive items, each item an activity
// (or a local activity) in it. The concurrency limit counts items across all pages, and every operator
// feature of per-item mode works: pause, live limits, cancelling one item or the batch, failure
// policies, exact counts at every poll, result files, and determinism on replay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allSucceeded,
  batchEnd,
  controlRows,
  finishedOf,
  key,
  liveProgress,
  listIds,
  readItems,
  tally,
  updateRejection,
  waitFor,
} from '../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../helpers/harness';

describe('page mode', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('page-mode');
  });
  afterAll(async () => {
    await h?.close();
  });

  const pagesOf = (batchId: string) =>
    listIds(h.ctx.client, `BatchId = "${batchId}" AND WorkflowType = "pageWorkflow"`);

  it('runs 250 items in 3 page children with at most `concurrency` items in flight at the target', async () => {
    const b = await h.start(
      'pages',
      controlRows(250, () => ({ delayMs: 20 })),
      {
        itemsPerChild: 100,
        concurrency: 8,
      },
    );
    let polls = 0;
    for (;;) {
      const p = await liveProgress(b.handle);
      expect(finishedOf(p) + p.running + p.pending).toBe(250);
      expect(p.running).toBeLessThanOrEqual(8);
      polls += 1;
      if (p.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(polls).toBeGreaterThan(2);
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: allSucceeded(250) });
    expect(b.target.stats().effects).toBe(250);
    expect(b.target.stats().maxInFlight).toBeLessThanOrEqual(8);
    // Two pages share the slots (4 + 4): the second page's items start before the first page's last
    // one, so no slot waits for a page's end and hand-over.
    const firstAt = new Map(b.target.received().map((r) => [r.idempotencyKey, Date.parse(r.firstAt)]));
    const startOf = (i: number) => firstAt.get(`${b.batchId}:${key(i)}`)!;
    const page0Last = Math.max(...Array.from({ length: 100 }, (_, i) => startOf(i)));
    const page1First = Math.min(...Array.from({ length: 100 }, (_, i) => startOf(100 + i)));
    expect(page1First).toBeLessThan(page0Last);
    expect((await pagesOf(b.batchId)).sort()).toEqual(
      [`${b.batchId}/page-0`, `${b.batchId}/page-100`, `${b.batchId}/page-200`].sort(),
    );
    // No item child: every item ran inside a page.
    expect(await listIds(h.ctx.client, `BatchId = "${b.batchId}" AND WorkflowType = "itemWorkflow"`)).toEqual(
      [],
    );
    const items = await readItems(b.outputDir);
    expect(items.map((i) => i.key).sort()).toEqual(controlRows(250).map((r) => r.id));
    expect(tally(items)).toEqual({ succeeded: 250 });
    // The page holding an item is found by its key.
    expect(await listIds(h.ctx.client, `BatchId = "${b.batchId}" AND ItemKeys = "${key(141)}"`)).toEqual([
      `${b.batchId}/page-100`,
    ]);
  });

  it('page + local items: the same exact counts', async () => {
    const b = await h.start(
      'pages-local',
      controlRows(120, (i) => ({ failAttempts: i % 10 === 0 ? 2 : 0 })),
      {
        itemsPerChild: 50,
        itemExecution: 'local',
        concurrency: 10,
      },
    );
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: allSucceeded(120) });
    expect(b.target.stats().effects).toBe(120);
    const items = await readItems(b.outputDir);
    expect(
      items
        .filter((i) => i.attempts === 3)
        .map((i) => i.key)
        .sort(),
    ).toEqual(
      controlRows(120)
        .filter((_, i) => i % 10 === 0)
        .map((r) => r.id),
    );
  });

  it('pause stops new starts inside pages; setLimits changes concurrency across pages; resume completes', async () => {
    const b = await h.start(
      'pages-ops',
      controlRows(60, () => ({ delayMs: 300 })),
      {
        itemsPerChild: 20,
        concurrency: 4,
      },
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
    expect(paused.succeeded).toBeLessThan(60);

    expect(await updateRejection(() => h.ctx.batches.setLimits(b.batchId, { concurrency: 0 }))).toContain(
      'concurrency must be a whole number from 1 to 1000',
    );
    await h.ctx.batches.setLimits(b.batchId, { concurrency: 9 });
    await h.ctx.batches.resume(b.batchId);
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: allSucceeded(60) });
    expect(b.target.stats().maxInFlight).toBeLessThanOrEqual(9);
    expect(b.target.stats().maxInFlight).toBeGreaterThan(4); // the raised limit took effect
  });

  it('cancels a pending and a running item, then the batch: exact counts', async () => {
    const rows = controlRows(40, (i) => ({ delayMs: i === 0 ? 60_000 : 400 }));
    const b = await h.start('pages-cancel', rows, { itemsPerChild: 10, concurrency: 2 });
    await waitFor('K0001 running at the target', () => b.target.stats().inFlight >= 1);
    expect(await h.ctx.batches.cancelItem(b.batchId, key(0))).toEqual({ key: key(0), action: 'cancelling' });
    // K0005 is in the first page, not started yet (concurrency 2): skipped by its page.
    expect(await h.ctx.batches.cancelItem(b.batchId, key(4))).toEqual({ key: key(4), action: 'cancelling' });
    // K0035 is in a page not started yet: skipped by the parent.
    expect(await h.ctx.batches.cancelItem(b.batchId, key(34))).toEqual({ key: key(34), action: 'skipped' });
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
    expect(byKey.get(key(0))).toMatchObject({ status: 'cancelled', errorType: 'Cancelled' });
    expect(byKey.get(key(4))).toMatchObject({ status: 'skipped', errorType: 'CancelledBeforeStart' });
    expect(byKey.get(key(34))).toMatchObject({ status: 'skipped', errorType: 'CancelledBeforeStart' });
    expect(b.target.stats().abandoned).toBe(1); // K0001's request was aborted
  });

  it('fail-fast ends a page-mode batch as failed', async () => {
    const rows = controlRows(50, (i) => ({ status: i === 12 ? 422 : 0, delayMs: 50 }));
    const b = await h.start('pages-failfast', rows, { itemsPerChild: 10, concurrency: 3, failFast: true });
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'failed', progress: { status: 'failed', failed: 1, total: 50 } });
    if (end.kind !== 'failed') return;
    const p = end.progress;
    expect(finishedOf(p)).toBe(50);
    expect(p.succeeded).toBeLessThan(50);
  });

  it('continues-as-new while pages run: every item once, exact counts, pages carried over', async () => {
    const target = await h.target();
    const { batchId, csv } = await h.source(
      'pages-can',
      controlRows(300, (i) => ({ delayMs: i % 7 })),
    );
    const config = h.ctx.config({
      batchId,
      idColumn: 'id',
      itemsPerChild: 20,
      concurrency: 12,
      http: { url: controlUrl(target) },
    });
    const started = await h.ctx.batches.start(csv, config, { continueAsNewAfterEvents: 50 });
    const end = await batchEnd(started.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: allSucceeded(300) });
    if (end.kind === 'returned') expect(end.progress.runNumber).toBeGreaterThanOrEqual(3);
    expect(target.stats().effects).toBe(300);
    expect(target.received().every((r) => r.effects === 1)).toBe(true);
    const items = await readItems(started.outputDir);
    expect(new Set(items.map((i) => i.key)).size).toBe(300);
  });

  it('pages of long keys: ItemKeys lists what fits the search attribute limit, every item runs', async () => {
    // 120 keys of 52 characters in pages of 60: 3 KB of keys per page, over the server's 2 KB limit.
    const longKey = (i: number) => `customer-2f6c1d0e-8a4b-4c7e-9f3a-${String(i).padStart(12, '0')}`;
    const rows = controlRows(120).map((r, i) => ({ ...r, id: longKey(i) }));
    const b = await h.start('pages-long-keys', rows, { itemsPerChild: 60, concurrency: 10 });
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: allSucceeded(120) });
    expect(b.target.stats().effects).toBe(120);
    expect(await listIds(h.ctx.client, `BatchId = "${b.batchId}" AND ItemKeys = "${longKey(61)}"`)).toEqual([
      `${b.batchId}/page-60`,
    ]);
  });

  it('replays every history of the batches above without nondeterminism', async () => {
    const [replayed, listed] = await h.replayAll();
    expect(replayed).toBe(listed);
    expect(listed).toBeGreaterThan(10);
  });
});

// Runner mode (`--items-per-child N --item-execution runner`): a page's items run inside one
// heartbeating runner activity, with no history event per item. Every guarantee of page mode holds
// (tests/integration/page-mode.test.ts is the model): the concurrency limit across pages, retries
// with the batch's policy, pause, live limits, cancelling one item or the batch, failure policies,
// budgets, exact counts at every poll, result files, and determinism on replay.
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
  waitFor,
} from '../helpers/engine';
import { engineHarness, type EngineHarness } from '../helpers/harness';

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
});

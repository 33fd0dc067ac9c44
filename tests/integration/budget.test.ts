// Cost budget: a batch pauses before the item that would overspend, says why in status and audit,
// and goes on when the budget is raised.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchEnd, controlRows, readItems, waitFor } from '../helpers/engine';
import { engineHarness, type EngineHarness } from '../helpers/harness';

describe('cost budget', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('budget');
  });
  afterAll(() => h?.close());

  /** The batch once it is paused with nothing left running. */
  const pausedAndDrained = (batchId: string) =>
    waitFor(
      'the budget to pause the batch',
      async () => {
        const p = await h.ctx.batches.progress(batchId);
        return p.status === 'paused' && p.running === 0 ? p : undefined;
      },
      30_000,
    );

  it.each([
    // One child per item starts items in key order: the 7th is next.
    { mode: 'one child per item', settings: {}, next: /next item K0007 would cost 1\.5/ },
    // Two pages share the 3 slots (2 + 1) and each commits within its allowance: the next item is
    // the first not started of whichever page asked last.
    { mode: 'page mode', settings: { itemsPerChild: 10 }, next: /next item K00\d\d would cost 1\.5/ },
    // A runner commits within its page's allowance the same way.
    {
      mode: 'runner mode',
      settings: { itemsPerChild: 10, itemExecution: 'runner' as const },
      next: /next item K00\d\d would cost 1\.5/,
    },
  ])(
    '$mode: pauses at the item that would exceed the budget, counting items in flight',
    async ({ settings, next }) => {
      const b = await h.start(
        'budget-const',
        controlRows(20, () => ({ delayMs: 50 })),
        {
          concurrency: 3,
          costPerItem: 1.5,
          budget: 10,
          ...settings,
        },
      );
      const paused = await pausedAndDrained(b.batchId);
      // 6 × 1.5 = 9 fits in 10; the 7th would make 10.5.
      expect(paused).toMatchObject({ succeeded: 6, pending: 14, cost: 9, budget: 10 });
      expect(paused.statusReason).toContain('budget 10 reached');
      expect(paused.statusReason).toMatch(next);
      expect(b.target.stats().requests).toBe(6);

      // The audit line is written by an activity right after the pause takes effect.
      const pauseEntry = await waitFor('the budget pause in the audit log', async () => {
        const lines = (await readFile(path.join(b.outputDir, 'audit', 'audit.jsonl'), 'utf8'))
          .trim()
          .split('\n');
        return lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.action === 'pause');
      });
      expect(pauseEntry).toMatchObject({ by: 'budget', args: { budget: 10, committed: 9 } });
      // At the moment of the pause some of those 6 items may still have been in flight.
      expect((pauseEntry as { args: { spent: number } }).args.spent).toBeLessThanOrEqual(9);

      await h.ctx.batches.setLimits(b.batchId, { budget: 100 });
      await h.ctx.batches.resume(b.batchId);
      const end = await batchEnd(b.handle);
      expect(end).toMatchObject({
        kind: 'returned',
        progress: { status: 'completed', succeeded: 20, cost: 30, budget: 100 },
      });
    },
  );

  it.each([
    { mode: 'page mode', settings: {} },
    { mode: 'runner mode', settings: { itemExecution: 'runner' as const } },
  ])(
    '$mode: allowance another page holds but has not committed is taken back before the batch pauses',
    async ({ settings }) => {
      // Two pages share 2 slots and the budget of 6 (allowances 3 and 1.5). Page 1's items are quick,
      // page 2's slow: page 1 runs out of allowance while page 2 holds 0.5 it has not committed. That
      // half is taken back (page 2 acknowledges), so the batch spends the whole budget before pausing.
      const rows = controlRows(20, (i) => ({ delayMs: i < 10 ? 50 : 1_500 }));
      const b = await h.start('budget-reclaim', rows, {
        concurrency: 2,
        costPerItem: 1,
        budget: 6,
        itemsPerChild: 10,
        ...settings,
      });
      const paused = await pausedAndDrained(b.batchId);
      expect(paused).toMatchObject({ succeeded: 6, cost: 6, budget: 6, pending: 14 });
      // Paused only when the whole budget was committed: what had finished plus what was in flight.
      const match = /budget 6 reached: spent (\d+), in flight (\d+), next item K00\d\d would cost 1;/.exec(
        paused.statusReason ?? '',
      );
      expect(match, paused.statusReason).not.toBeNull();
      expect(Number(match![1]) + Number(match![2])).toBe(6);
      expect(b.target.stats().requests).toBe(6);
      await h.ctx.batches.setLimits(b.batchId, { budget: 20 });
      await h.ctx.batches.resume(b.batchId);
      expect(await batchEnd(b.handle)).toMatchObject({
        kind: 'returned',
        progress: { status: 'completed', succeeded: 20, cost: 20 },
      });
      expect(b.target.stats().effects).toBe(20);
    },
  );

  it("plan's cost estimate matches the measured cost of the batch", async () => {
    const rows = controlRows(12).map((r, i) => ({ ...r, price: (i % 4) + 0.25 }));
    const b = await h.start('plan-cost', rows, { concurrency: 4, costField: 'price' });
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: { status: 'completed', succeeded: 12 } });
    const measured = end.kind === 'returned' ? end.progress.cost : NaN;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        path.resolve('bin/durabatch.js'),
        'plan',
        path.join(h.ctx.dir, `${b.batchId}.csv`),
        '--id-column',
        'id',
        '--cost-field',
        'price',
        '--url',
        'http://127.0.0.1:9/x',
        '--json',
      ],
      { env: { ...process.env, DURABATCH_HOME: h.ctx.home } },
    );
    const plan = JSON.parse(stdout) as { cost?: { total: number } };
    expect(measured).toBe(12 * 0.25 + 3 * (0 + 1 + 2 + 3));
    expect(plan.cost?.total).toBeDefined();
    expect(Math.abs(plan.cost!.total - measured) / measured).toBeLessThanOrEqual(0.1);
  });

  it('uses an item cost field when present', async () => {
    const rows = controlRows(5).map((r, i) => ({ ...r, price: [3, 3, 3, 3, 3][i]! }));
    const b = await h.start('budget-field', rows, { concurrency: 1, costField: 'price', budget: 10 });
    const paused = await pausedAndDrained(b.batchId);
    expect(paused).toMatchObject({ succeeded: 3, cost: 9 });
    await h.ctx.batches.cancel(b.batchId);
    expect(await batchEnd(b.handle)).toEqual({ kind: 'cancelled' });
    const items = await readItems(b.outputDir);
    expect(items.filter((i) => i.status === 'succeeded').map((i) => i.cost)).toEqual([3, 3, 3]);
  });
});

// A batch large enough to need several runs: 5,000 near no-op items must each end in exactly one
// terminal state, the parent must continue-as-new at least twice, and no run may come near the
// history warning limit (10,240 events).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { createTestContext, type TestContext } from '../helpers/context';
import { readItems, finalProgress, allSucceeded } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { replayWorkflows } from '../helpers/replay';

const ITEMS = 5_000;

describe('a 5,000-item batch', () => {
  let ctx: TestContext;
  let target: TargetApi;
  beforeAll(async () => {
    ctx = await createTestContext('scale');
    target = await startTargetApi({ latencyMs: [0, 0], failureRate: 0, rateLimitRate: 0 });
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it(
    'completes every item exactly once across several continue-as-new runs',
    { timeout: 900_000 },
    async () => {
      const rows = Array.from({ length: ITEMS }, (_, i) => ({ id: `item-${i}` }));
      const csv = await writeCsv(ctx.dir, 'scale.csv', rows);
      const batchId = `scale-${Date.now()}`;
      const config = ctx.config({
        batchId,
        idColumn: 'id',
        concurrency: 200,
        http: { url: `${target.url}/api/scale` },
      });
      const started = await ctx.batches.start(csv, config);
      const result = await finalProgress(started.handle);

      expect(result).toMatchObject(allSucceeded(ITEMS));
      const items = await readItems(config.outputDir!);
      expect(items).toHaveLength(ITEMS);
      expect(new Set(items.map((i) => i.key)).size).toBe(ITEMS);
      expect(items.every((i) => i.status === 'succeeded')).toBe(true);
      // The target saw each key take effect exactly once.
      expect(target.stats().effects).toBe(ITEMS);
      expect(target.received().every((r) => r.effects === 1)).toBe(true);

      const runs: { runId: string; historyLength: number }[] = [];
      for await (const wf of ctx.client.workflow.list({ query: `WorkflowId = "${batchId}"` })) {
        const desc = await ctx.client.workflow.getHandle(batchId, wf.runId).describe();
        runs.push({ runId: wf.runId, historyLength: desc.historyLength });
      }
      console.info(
        `scale: ${ITEMS} items, ${runs.length} runs, history lengths ${runs.map((r) => r.historyLength).join(', ')}`,
      );
      expect(runs.length).toBeGreaterThanOrEqual(3);
      expect(result.runNumber).toBe(runs.length);
      for (const run of runs) expect(run.historyLength).toBeLessThanOrEqual(10_240);

      expect(await replayWorkflows(ctx.client, `WorkflowId = "${batchId}"`)).toBe(runs.length);
    },
  );
});

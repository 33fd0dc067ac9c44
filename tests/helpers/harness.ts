// One test file's engine harness: a test context with a running worker, a fresh quiet target per
// batch (so its in-flight statistics belong to one batch), and the ids of every batch started, for
// the replay check at the end of the file.
import type { StartedBatch } from '../../src/client/batch-client';
import type { Config, ConfigInput } from '../../src/config/schema';
import type { TargetApi } from '../../examples/target-api/server';
import { createTestContext, type TestContext } from './context';
import { batchesQuery, quietTarget, type ControlRow } from './engine';
import { writeCsv } from './files';
import { replayWorkflows } from './replay';

export interface EngineHarness {
  ctx: TestContext;
  batchIds: string[];
  /** A fresh target, closed with the harness. */
  target(): Promise<TargetApi>;
  /** Writes `rows` as a CSV and returns a unique batch id and the CSV path (the id is recorded for replay). */
  source(name: string, rows: ControlRow[]): Promise<{ batchId: string; csv: string }>;
  /** Starts a batch through BatchClient against a fresh target; the URL passes every control column. */
  start(
    name: string,
    rows: ControlRow[],
    overrides?: ConfigInput,
  ): Promise<StartedBatch & { config: Config; target: TargetApi }>;
  /** Replays every workflow of the batches started; returns [replayed, listed]. */
  replayAll(): Promise<[number, number]>;
  close(): Promise<void>;
}

export function controlUrl(target: TargetApi): string {
  return `${target.url}/api/items{?delayMs,status,failAttempts}`;
}

export async function engineHarness(name: string): Promise<EngineHarness> {
  const ctx = await createTestContext(name);
  await ctx.startWorker();
  const targets: TargetApi[] = [];
  const batchIds: string[] = [];
  const h: EngineHarness = {
    ctx,
    batchIds,
    async target() {
      const t = await quietTarget();
      targets.push(t);
      return t;
    },
    async source(batchName, rows) {
      const batchId = `${batchName}-${Date.now()}`;
      batchIds.push(batchId);
      return { batchId, csv: await writeCsv(ctx.dir, `${batchId}.csv`, rows) };
    },
    async start(batchName, rows, overrides = {}) {
      const target = await h.target();
      const { batchId, csv } = await h.source(batchName, rows);
      const config = ctx.config({ batchId, idColumn: 'id', http: { url: controlUrl(target) }, ...overrides });
      return { ...(await ctx.batches.start(csv, config)), config, target };
    },
    async replayAll() {
      const query = batchesQuery(batchIds);
      const { count } = await ctx.client.workflow.count(query);
      return [await replayWorkflows(ctx.client, query), count];
    },
    async close() {
      await ctx.close();
      await Promise.all(targets.map((t) => t.close()));
    },
  };
  return h;
}

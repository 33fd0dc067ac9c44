// Records the workflow histories of a few small batches run by durabatch at a given revision, for
// tests/unit/replay-recorded.test.ts: the workflows of today must replay the histories that batches
// started by an earlier release left on a server (a running batch is resumed by new code).
//   npx tsx scripts/record-histories.ts --engine <rev> [--out tests/histories/<rev>]
// Scenarios: one child per item with retries, a budget pause with set + resume, items cancelled
// (one in flight, one pending) with a child per item and in pages, pages of activities, pages of
// local activities, and continue-as-new.
// To add a recording: run it at the release whose workflows record something new (before the change
// that needs it replayed is merged), and commit tests/histories/<rev>/; the replay test reads every
// folder there. A new scenario is a `record` call below; record it at the current release too.
// A scenario whose settings an old release lacks is skipped.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { startTargetApi } from '../examples/target-api/server';
import { loadEngine, startEngineStack } from '../bench/lib/engine';

const { values } = parseArgs({ options: { engine: { type: 'string' }, out: { type: 'string' } } });
if (!values.engine) throw new Error('give --engine <git revision>: the release whose histories to record');
const History = proto.temporal.api.history.v1.History;
const engine = await loadEngine(values.engine);
const out = path.resolve(values.out ?? path.join('tests', 'histories', engine.commit));
const dir = mkdtempSync(path.join(os.tmpdir(), 'durabatch-histories-'));
const taskQueue = 'record-histories';
const stack = await startEngineStack(engine, {
  home: path.join(dir, 'home'),
  dir,
  dbFile: path.join(dir, 'temporal.db'),
  taskQueue,
});
// Every key's first attempt answers 503: each item is retried once.
const target = await startTargetApi({
  failureRate: 0,
  rateLimitRate: 0,
  failFirstAttempts: 1,
  latencyMs: [1, 5],
});
const client = new Client({ connection: stack.connection, namespace: 'default' });
const batches = new engine.BatchClient(client, {
  namespace: 'default',
  taskQueue,
  home: path.join(dir, 'home'),
});

const csv = path.join(dir, 'items.csv');
writeFileSync(
  csv,
  'id,price\n' + Array.from({ length: 6 }, (_, i) => `K${i + 1},${i + 1}`).join('\n') + '\n',
);
const config = (name: string, extra: Record<string, unknown> = {}) =>
  engine.Config.parse({
    batchId: `recorded-${name}`,
    idColumn: 'id',
    taskQueue,
    home: path.join(dir, 'home'),
    outputDir: path.join(dir, 'output', name),
    initialIntervalMs: 100,
    maxIntervalMs: 100,
    http: { url: `${target.url}/patients` },
    ...extra,
  });

/**
 * Once an item runs, cancels `keys` (the first one in flight: a cancel reaching a started child or
 * page takes the item-cancel-after-start path; a pending one is skipped) and says what each became.
 */
async function cancelItems(batchId: string, keys: string[]): Promise<void> {
  while ((await batches.progress(batchId)).running < 1) await new Promise((r) => setTimeout(r, 50));
  for (const key of keys) {
    // Its answer as this release gives it (`{ action }` lately).
    console.log(`  cancel ${key}: ${JSON.stringify(await batches.cancelItem(batchId, key))}`);
  }
}

async function record(name: string, run: (batchId: string) => Promise<unknown>): Promise<void> {
  const batchId = `recorded-${name}`;
  try {
    await run(batchId);
  } catch (err) {
    // A setting this release did not have yet (pages came later): nothing to record.
    if (!String(err).includes('Unrecognized key')) throw err;
    console.log(`${name}: skipped, this release does not have its settings`);
    return;
  }
  await batches.handle(batchId).result();
  const histories = [];
  for await (const { workflowId, history } of client.workflow
    .list({ query: `BatchId = "${batchId}"` })
    .intoHistories()) {
    // Protobuf's own encoding (base64): exactly what the server sent, for any SDK version to decode.
    const bytes = History.encode(history as proto.temporal.api.history.v1.IHistory).finish();
    histories.push({ workflowId, history: Buffer.from(bytes).toString('base64') });
  }
  histories.sort((a, b) => a.workflowId.localeCompare(b.workflowId));
  writeFileSync(path.join(out, `${name}.json`), JSON.stringify(histories) + '\n');
  console.log(`${name}: ${histories.length} workflow histories`);
}

try {
  mkdirSync(out, { recursive: true });
  await record('per-item', () => batches.start(csv, config('per-item')));
  await record('budget', async (id) => {
    await batches.start(csv, config('budget', { costField: 'price', budget: 4 }));
    for (;;) {
      const p = await batches.progress(id);
      if (p.status === 'paused') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await batches.setLimits(id, { budget: 100 });
    await batches.resume(id);
  });
  await record('cancel-item', async (id) => {
    await batches.start(csv, config('cancel-item', { concurrency: 1, rate: 1 }));
    await cancelItems(id, ['K1', 'K6']);
  });
  await record('page', () => batches.start(csv, config('page', { itemsPerChild: 2 })));
  await record('page-cancel-item', async (id) => {
    await batches.start(csv, config('page-cancel-item', { itemsPerChild: 2, concurrency: 1, rate: 1 }));
    await cancelItems(id, ['K2', 'K6']);
  });
  await record('page-local', () =>
    batches.start(csv, config('page-local', { itemsPerChild: 2, itemExecution: 'local' })),
  );
  await record('continue-as-new', () =>
    batches.start(csv, config('continue-as-new', { concurrency: 2 }), {
      continueAsNewAfterEvents: 40,
      pageSize: 2,
    }),
  );
  console.log(`recorded at ${engine.commit} into ${path.relative(process.cwd(), out)}`);
} finally {
  await target.close();
  await stack.worker.shutdown();
  await stack.connection.close();
  await stack.server.stop();
  engine.dispose();
  rmSync(dir, { recursive: true, force: true });
}

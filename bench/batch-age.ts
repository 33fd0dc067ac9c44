// Batch-age probe (issue 13, item 7): several page-mode batches one after another on ONE dev server,
// with the rate and CPU per item every few seconds. It separates what slows a long batch down with
// its own age (its parent runs, its pages) from what slows every batch on a server that has grown
// (SQLite size, server caches): if a later batch on the grown server starts fast again, the
// database's size is not the cause.
//
//   npx tsx bench/batch-age.ts [--batches 10000,40000,10000] [--sample-seconds 10] [--engine REV|DIR]
//
// Same stack as bench/scale.ts (fresh embedded dev server in a temp dir, one in-process worker,
// concurrency 100, pages of 100, the zero-latency target in its own process). One JSON line per
// sample and per batch goes to stdout and to bench/results/batch-age.jsonl (or --out).
import { appendFileSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import { generateCsv } from './gen-csv';
import { loadEngine, repoRoot, startEngineStack } from './lib/engine';
import { processTreeCpuMs, selfCpuMs } from './lib/proc-cpu';
import { startTargetProcess } from './lib/target';

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '10000,40000,10000' },
    'sample-seconds': { type: 'string', default: '10' },
    engine: { type: 'string' },
    out: { type: 'string' },
  },
});
const sizes = values.batches.split(',').map(Number);
const sampleSeconds = Number(values['sample-seconds']);
if (sizes.length === 0 || sizes.some((n) => !(n > 0)) || !(sampleSeconds > 0)) {
  throw new Error('--batches must list positive item counts (e.g. 10000,40000) and --sample-seconds be > 0');
}
const outFile = values.out ?? path.join(repoRoot, 'bench', 'results', 'batch-age.jsonl');
mkdirSync(path.dirname(outFile), { recursive: true });
const run = new Date().toISOString();
const emit = (record: Record<string, unknown>): void => {
  const line = JSON.stringify({ benchmark: 'batch-age', run, ...record });
  console.log(line);
  appendFileSync(outFile, line + '\n');
};

const engine = await loadEngine(values.engine);
const home = path.join(repoRoot, '.durabatch');
const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-batch-age-'));
const target = await startTargetProcess(0);
const { server, connection, stop } = await startEngineStack(engine, {
  home,
  dir,
  dbFile: path.join(dir, 'batch-age.db'),
  taskQueue: 'batch-age',
});
emit({ commit: engine.commit, batches: sizes, nodeOptions: process.env.NODE_OPTIONS ?? null });
try {
  const client = new Client({ connection });
  const batches = new engine.BatchClient(client, { namespace: 'default', taskQueue: 'batch-age', home: dir });
  await delay(2_000); // let the server settle after start-up
  for (const [batch, items] of sizes.entries()) {
    const csv = path.join(dir, `items-${batch}.csv`);
    await generateCsv(csv, items);
    const batchId = `batch-age-${batch}-${Date.now()}`;
    const config = engine.Config.parse({
      batchId,
      idColumn: 'id',
      concurrency: 100,
      itemsPerChild: 100,
      http: { url: `${target.url}/api/bench`, connections: 100 },
      outputDir: path.join(dir, `out-${batch}`),
      taskQueue: 'batch-age',
    });
    const t0 = performance.now();
    let last = { seconds: 0, done: 0, server: processTreeCpuMs(server.pid), self: selfCpuMs() };
    const started = await batches.start(csv, config);
    const sample = async (): Promise<void> => {
      const p = await batches.progress(batchId).catch(() => undefined);
      if (!p) return; // a query can time out while the parent continues-as-new
      const seconds = (performance.now() - t0) / 1000;
      const done = p.succeeded + p.failed;
      const now = { seconds, done, server: processTreeCpuMs(server.pid), self: selfCpuMs() };
      const n = done - last.done;
      emit({
        batch,
        seconds: Math.round(seconds),
        done,
        runNumber: p.runNumber,
        itemsPerSecond: Math.round(n / (seconds - last.seconds)),
        serverCpuMsPerItem: n > 0 ? Math.round(((now.server - last.server) / n) * 100) / 100 : null,
        workerCpuMsPerItem: n > 0 ? Math.round(((now.self - last.self) / n) * 100) / 100 : null,
      });
      last = now;
    };
    const sampler = setInterval(() => void sample(), sampleSeconds * 1000);
    try {
      await started.handle.result();
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - t0) / 1000;
    emit({
      batch,
      items,
      seconds: Math.round(seconds * 10) / 10,
      itemsPerSecond: Math.round((items / seconds) * 10) / 10,
    });
  }
} finally {
  await stop();
  await target.stop();
  engine.dispose();
  await rm(dir, { recursive: true, force: true });
}

// Throughput benchmark: N near no-op items (an HTTP call to a local target with no latency and no
// faults) through a fresh embedded dev server and one in-process worker. Prints one JSON object.
//   npx tsx bench/throughput.ts --items 2000 --concurrency 200 [--pragmas wal|none|p1=v1,p2=v2]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { startTargetApi } from '../examples/target-api/server';
import { BatchClient } from '../src/client/batch-client';
import { Config } from '../src/config/schema';
import { createLogger } from '../src/logging/logger';
import { SQLITE_PRAGMAS, startDevServer } from '../src/server/dev-server';
import { createBatchWorker } from '../src/worker/worker';
import { ALLOW_ANY } from '../src/worker/allow-settings';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '200' },
    pragmas: { type: 'string', default: 'wal' },
  },
});
const items = Number(values.items);
const concurrency = Number(values.concurrency);
// `none`: SQLite defaults (rollback journal, synchronous=FULL); `wal`: durabatch's choice; or a list.
const pragmas =
  values.pragmas === 'none' ? [] : values.pragmas === 'wal' ? SQLITE_PRAGMAS : values.pragmas.split(',');

const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-bench-'));
const home = path.resolve('.durabatch');
const server = await startDevServer({
  home,
  dbFile: path.join(dir, 'bench.db'),
  port: 0,
  headless: true,
  sqlitePragmas: pragmas,
});
const target = await startTargetApi({ latencyMs: [0, 0], failureRate: 0, rateLimitRate: 0 });
const logger = createLogger({ level: 'warn', file: path.join(dir, 'worker.log') });
const worker = await createBatchWorker({
  connectionOptions: { address: server.address },
  namespace: 'default',
  taskQueue: 'bench',
  home,
  logger,
  allow: ALLOW_ANY,
});
const running = worker.run();
const connection = await Connection.connect({ address: server.address });
try {
  const csv = path.join(dir, 'items.csv');
  await writeFile(csv, 'id\n' + Array.from({ length: items }, (_, i) => `item-${i}`).join('\n') + '\n');
  const batches = new BatchClient(new Client({ connection }), {
    namespace: 'default',
    taskQueue: 'bench',
    home: dir,
  });
  const config = Config.parse({
    batchId: `bench-${Date.now()}`,
    idColumn: 'id',
    concurrency,
    http: { url: `${target.url}/api/bench` },
    outputDir: path.join(dir, 'out'),
  });
  const t0 = performance.now();
  const started = await batches.start(csv, config);
  const result = await started.handle.result();
  const seconds = (performance.now() - t0) / 1000;
  const rss = process.memoryUsage().rss;
  console.log(
    JSON.stringify({
      benchmark: 'throughput',
      items,
      concurrency,
      sqlitePragmas: pragmas,
      status: result.status,
      succeeded: result.succeeded,
      seconds: Math.round(seconds * 10) / 10,
      itemsPerSecond: Math.round((items / seconds) * 10) / 10,
      parentRuns: result.runNumber,
      targetEffects: target.stats().effects,
      workerRssMb: Math.round(rss / 1e6),
      cpus: os.cpus().length,
      node: process.version,
    }),
  );
} finally {
  await worker.shutdown();
  await running.catch(() => undefined);
  await connection.close();
  await target.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
process.exit(0);

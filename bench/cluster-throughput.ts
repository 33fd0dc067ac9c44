// One batch on a fresh native cluster (scripts/cluster/, mutual TLS) with two `durabatch worker`
// processes, and what it cost the cluster (scripts/cluster/measure.ts). Varies one server or
// PostgreSQL setting at a time, to find what bounds the cluster. Prints one JSON object.
//   npx tsx bench/cluster-throughput.ts --items 1000 --mode page [--shards 4]
//     [--dynamic '{"matching.numTaskqueueReadPartitions":8}'] [--pg synchronous_commit=on,fsync=on]
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { startTargetApi } from '../examples/target-api/server';
import { startNativeCluster } from '../scripts/cluster/native-cluster';
import { batchHistory, costBetween, readMeters } from '../scripts/cluster/measure';
import { runCli } from '../tests/helpers/cli';
import { patientRows, writeCsv } from '../tests/helpers/files';
import { installTools, toolPaths } from '../tests/cluster/tools';

/**
 * CPU and run-queue wait seconds of processes, every thread, from /proc/<pid>/task/<tid>/schedstat
 * (ns on CPU, ns runnable but waiting for a CPU): a process that waits more than it runs is starved
 * of CPU by the machine, whatever its own CPU per item.
 */
function schedSeconds(pids: number[]): { cpu: number; wait: number } {
  let cpu = 0;
  let wait = 0;
  for (const pid of pids) {
    const tids = (() => {
      try {
        return readdirSync(`/proc/${pid}/task`);
      } catch {
        return []; // the process ended
      }
    })();
    for (const tid of tids) {
      try {
        const [run, queued] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
        cpu += Number(run) / 1e9;
        wait += Number(queued) / 1e9;
      } catch {
        // the thread ended
      }
    }
  }
  return { cpu, wait };
}

/** PostgreSQL's postmaster and its backends. */
function postgresPids(clusterDir: string): number[] {
  const postmaster = Number(
    readFileSync(path.join(clusterDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0],
  );
  const children = readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [postmaster, ...children];
}

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '1000' },
    mode: { type: 'string', default: 'page' }, // item | page | runner
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '40' },
    'latency-ms': { type: 'string', default: '5' },
    shards: { type: 'string' },
    dynamic: { type: 'string' },
    pg: { type: 'string' },
  },
});
const items = Number(values.items);
const MODE_FLAGS: Record<string, string[]> = {
  item: [],
  page: ['--items-per-child', '100'],
  runner: ['--items-per-child', '1000', '--item-execution', 'runner'],
};
const modeFlags = MODE_FLAGS[values.mode];
if (!modeFlags) throw new Error(`--mode: item, page or runner, not ${values.mode}`);

const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-cluster-bench-'));
await chmod(dir, 0o755); // as root, PostgreSQL runs as `postgres` and must reach its directory
const shared = path.join(dir, 'shared');
await mkdir(shared, { recursive: true });
const latency = Number(values['latency-ms']);
const cluster = await startNativeCluster({
  tools: toolPaths(await installTools('all')),
  dir: path.join(dir, 'cluster'),
  tls: true,
  serverTuning: {
    ...(values.shards ? { numHistoryShards: Number(values.shards) } : {}),
    ...(values.dynamic ? { dynamicConfig: JSON.parse(values.dynamic) as Record<string, unknown> } : {}),
  },
  postgresSettings: values.pg?.split(','),
});
const target = await startTargetApi({ latencyMs: [latency, latency], failureRate: 0, rateLimitRate: 0 });
const workers: ChildProcess[] = [];
try {
  const ns = 'durabatch';
  await cluster.createNamespace(ns);
  const env = {
    ...process.env,
    ...cluster.clientEnv(ns),
    DURABATCH_HOME: path.join(shared, '.durabatch'),
    DURABATCH_ALLOW_ORIGINS: '*',
  };
  for (let i = 0; i < Number(values.workers); i++) {
    const fd = openSync(path.join(dir, `worker-${i}.log`), 'a');
    workers.push(
      spawn(process.execPath, [path.resolve('bin/durabatch.js'), 'worker'], {
        env,
        cwd: shared,
        stdio: ['ignore', fd, fd],
      }),
    );
    closeSync(fd);
  }
  const csv = await writeCsv(shared, 'items.csv', patientRows(items));
  const batchId = `bench-${values.mode}`;
  // Stage first (`start` returns once the batch is started), so the clock holds the batch only.
  const sched = () => ({
    server: schedSeconds([cluster.serverPid() ?? 0]),
    postgres: schedSeconds(postgresPids(cluster.dir)),
    workers: schedSeconds(workers.map((w) => w.pid ?? 0)),
  });
  const schedBefore = sched();
  const before = await readMeters(cluster);
  const start = await runCli(
    [
      'start',
      csv,
      '--url',
      `${target.url}/patients`,
      '--id-column',
      'id',
      '--batch-id',
      batchId,
      '--concurrency',
      values.concurrency,
      ...modeFlags,
    ],
    { env, cwd: shared },
  );
  if (start.code !== 0) throw new Error(start.stderr);
  const connection = await Connection.connect(cluster.connectionOptions());
  const client = new Client({ connection, namespace: ns });
  const result = (await client.workflow.getHandle(batchId).result()) as { succeeded: number };
  const after = await readMeters(cluster);
  const schedAfter = sched();
  const perItemMs = (a: number, b: number) => Math.round(((b - a) * 1e4) / items) / 10;
  const scheduling = Object.fromEntries(
    (['server', 'postgres', 'workers'] as const).map((k) => [
      k,
      {
        cpuMsPerItem: perItemMs(schedBefore[k].cpu, schedAfter[k].cpu),
        runQueueWaitMsPerItem: perItemMs(schedBefore[k].wait, schedAfter[k].wait),
      },
    ]),
  );
  const history = await batchHistory(client, batchId);
  await connection.close();
  const cost = costBetween(before, after, items, history);
  console.log(
    JSON.stringify({
      mode: values.mode,
      succeeded: result.succeeded,
      runs: history.runs,
      shards: values.shards ?? 4,
      dynamic: values.dynamic,
      pg: values.pg,
      ...cost,
      scheduling,
    }),
  );
} finally {
  for (const w of workers) w.kill('SIGKILL');
  await target.close();
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}

// Peer benchmark (issue 13, item 6): the same HTTP items through durabatch's modes, a plain
// in-process loop and BullMQ, interleaved round by round in one run, on the same target.
//
//   npx tsx bench/peers.ts [--items 2000] [--concurrency 100] [--rounds 3] [--latency-ms 0]
//                          [--modes loop,bullmq,per-item,page,page-local(,per-item-local)]
//                          [--baseline REV|DIR] [--engine REV|DIR] [--page-size 100]
//   npx tsx bench/peers.ts --scenario latency      # = --latency-ms 200 --concurrency 50
//
// Every contender sends the same request per item (durabatch's own runHttp: POST of the row as
// JSON with an Idempotency-Key, `connections` = concurrency) to examples/target-api running in a
// process of its own (zero latency, no faults by default), with the same item count and the same
// concurrency limit. durabatch contenders each get a fresh embedded dev server (SQLite with
// durabatch's pragmas, in a temp dir) and one in-process worker; BullMQ gets a fresh redis-server
// (AOF, fsync every second) and one in-process Worker with one job per item.
//
// Measured per contender and round: items/s (start request to last item done), CPU ms per item of
// the server (Temporal dev server or redis-server, from /proc/<pid>/stat) and of this process (the
// worker, the client and the bench; process.cpuUsage), and for durabatch the history events per
// item (historyLength of every workflow execution on the server, closed runs included). Prints one
// JSON object per measurement, then a table; everything also goes to bench/results/peers-<date>.jsonl.
//
// --baseline REV|DIR adds the contender `per-item@base`: durabatch's per-item mode from another
// revision (extracted with git archive) or directory, to measure "× today" in the same run.
// --engine REV|DIR runs the other durabatch contenders from that revision instead of the working
// tree (a long run then does not pick up edits in progress). Issue 13's targets are checked at the end.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import { Queue, Worker as BullWorker, type Job } from 'bullmq';
import { pino } from 'pino';
import { runHttp } from '../activities/processors/http';
import type { ProcessorContext } from '../activities/processors/context';
import type { HttpProcessorSpec } from '../workflows/types';
import {
  checkout as checkoutEngine,
  commitOf,
  loadEngine,
  startEngineStack,
  type Engine,
} from './lib/engine';
import { processTreeCpuMs, selfCpuMs } from './lib/proc-cpu';
import { startRedis } from './lib/redis';
import { startTargetProcess, type TargetProcess } from './lib/target';

const { values } = parseArgs({
  options: {
    items: { type: 'string' },
    concurrency: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    'latency-ms': { type: 'string' },
    scenario: { type: 'string', default: 'zero' },
    modes: { type: 'string', default: 'loop,bullmq,per-item,page,page-local' },
    baseline: { type: 'string' },
    engine: { type: 'string' },
    'page-size': { type: 'string', default: '100' },
    out: { type: 'string' },
  },
});
if (values.scenario !== 'zero' && values.scenario !== 'latency') {
  throw new Error(`--scenario must be zero or latency, not ${values.scenario}`);
}
const latencyScenario = values.scenario === 'latency';
const items = Number(values.items ?? 2000);
const concurrency = Number(values.concurrency ?? (latencyScenario ? 50 : 100));
const latencyMs = Number(values['latency-ms'] ?? (latencyScenario ? 200 : 0));
const rounds = Number(values.rounds);
const itemsPerPage = Number(values['page-size']);
const modes = values.modes.split(',').map((m) => m.trim());
if (values.baseline && !modes.includes('per-item@base')) modes.push('per-item@base');
const repo = path.resolve(import.meta.dirname, '..');
/** What to stop if the run is interrupted (Ctrl-C, SIGTERM): servers, the target, temp dirs. */
const cleanups = new Set<() => Promise<unknown>>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping the servers this run started`);
    void Promise.allSettled([...cleanups].map((f) => f())).finally(() => process.exit(130));
  });
}
const snapshots: string[] = [];
/**
 * A checkout to load an engine from: a directory as it is, or a git revision of this repository
 * extracted with `git archive` into a temp dir (node_modules linked to this one's, removed at the end).
 */
function checkout(spec: string): string {
  const dir = checkoutEngine(spec);
  if (dir !== path.resolve(spec)) {
    snapshots.push(dir);
    cleanups.add(() => rm(dir, { recursive: true, force: true }));
  }
  return dir;
}
// The checkout whose engine the durabatch contenders run: default this working tree; a revision
// (e.g. HEAD) keeps a long run away from edits in progress.
const engineRoot = values.engine ? checkout(values.engine) : repo;
const home = path.join(repo, '.durabatch');
const date = new Date().toISOString().slice(0, 10);
const outFile = values.out ?? path.join(repo, 'bench', 'results', `peers-${date}.jsonl`);
mkdirSync(path.dirname(outFile), { recursive: true });
const runId = new Date().toISOString();

/** durabatch contenders: extra Config settings and the checkout whose engine runs them. */
const DURABATCH: Record<string, { settings: Record<string, unknown>; root: string }> = {
  'per-item': { settings: {}, root: engineRoot },
  page: { settings: { itemsPerChild: itemsPerPage }, root: engineRoot },
  'page-local': { settings: { itemsPerChild: itemsPerPage, itemExecution: 'local' }, root: engineRoot },
  // Not in the default list: one child per item whose steps run as local activities (item 4).
  'per-item-local': { settings: { itemExecution: 'local' }, root: engineRoot },
  ...(values.baseline ? { 'per-item@base': { settings: {}, root: checkout(values.baseline) } } : {}),
};
for (const m of modes) {
  if (m !== 'loop' && m !== 'bullmq' && !(m in DURABATCH)) throw new Error(`unknown mode ${m}`);
}

interface Measurement {
  benchmark: 'peers';
  run: string;
  contender: string;
  round: number;
  items: number;
  concurrency: number;
  latencyMs: number;
  ok: number;
  failed: number;
  seconds: number;
  itemsPerSecond: number;
  /** Temporal dev server or redis-server (with descendants); null for the plain loop. */
  serverCpuMsPerItem: number | null;
  /** This process: worker + client + bench (+ the BullMQ Worker, or the loop). */
  workerCpuMsPerItem: number;
  totalCpuMsPerItem: number;
  /** Idle CPU of the server before the start, ms per second (what it burns doing nothing). */
  serverIdleCpuMsPerSecond: number | null;
  historyEvents: number | null;
  historyEventsPerItem: number | null;
  workflowExecutions: number | null;
  parentRuns: number | null;
  targetRequests: number;
  targetEffects: number;
  targetCpuMsPerItem: number;
  workerRssMb: number;
  loadAverage1m: number;
  note?: string;
}

function emit(record: object): void {
  const line = JSON.stringify(record);
  console.log(line);
  appendFileSync(outFile, line + '\n');
}

const r1 = (n: number): number => Math.round(n * 10) / 10;
const r2 = (n: number): number => Math.round(n * 100) / 100;

function httpSpec(url: string): HttpProcessorSpec & { connections: number } {
  return {
    type: 'http',
    url: `${url}/api/bench`,
    method: 'POST',
    headers: {},
    connections: concurrency,
    timeoutMs: 30_000,
  };
}

/** The context runHttp gets for item i outside Temporal (the loop and BullMQ contenders). */
function itemContext(batchId: string, i: number, dir: string, attempt: number): ProcessorContext {
  const key = `item-${i}`;
  return {
    batchId,
    item: { index: i, key, line: i + 2, data: { id: key } },
    idempotencyKey: `${batchId}:${key}`,
    attempt,
    signal: new AbortController().signal,
    heartbeat: () => undefined,
    lastHeartbeatDetails: undefined,
    steps: {},
    outputDir: dir,
    stopGraceMs: 5_000,
    env: process.env,
    log: silentLogger,
  };
}
const noop = (): void => undefined;
/** The processors' logger, silenced: the contenders outside Temporal log nothing either. */
const silentLogger = pino({ level: 'silent' });

interface Sample {
  ok: number;
  failed: number;
  seconds: number;
  serverCpuMs: number | null;
  workerCpuMs: number;
  serverIdleCpuMsPerSecond: number | null;
  historyEvents?: number;
  workflowExecutions?: number;
  parentRuns?: number;
  note?: string;
}

/** The physical limit: a plain loop with `concurrency` lanes, same request, up to 5 attempts. */
async function runLoop(target: TargetProcess, round: number, dir: string, count = items): Promise<Sample> {
  const spec = httpSpec(target.url);
  const batchId = `peers-loop-r${round}-${Date.now()}`;
  let next = 0;
  let ok = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      for (let attempt = 1; ; attempt++) {
        try {
          await runHttp(spec, itemContext(batchId, i, dir, attempt));
          ok++;
          break;
        } catch (err) {
          if (attempt >= 5) {
            failed++;
            console.error(`loop: item ${i} failed: ${(err as Error).message}`);
            break;
          }
          await delay(1_000 * 2 ** (attempt - 1));
        }
      }
    }
  };
  const cpu0 = selfCpuMs();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (performance.now() - t0) / 1000;
  return {
    ok,
    failed,
    seconds,
    serverCpuMs: null,
    workerCpuMs: selfCpuMs() - cpu0,
    serverIdleCpuMsPerSecond: null,
  };
}

/** BullMQ: one job per item (added in bulk), one Worker with `concurrency`, jobs kept as by default. */
async function runBullmq(target: TargetProcess, round: number, dir: string): Promise<Sample> {
  const redis = await startRedis();
  cleanups.add(redis.stop);
  redisVersion = redis.version;
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const batchId = `peers-bullmq-r${round}-${Date.now()}`;
  const spec = httpSpec(target.url);
  const queue = new Queue('peers', { connection });
  let ok = 0;
  let failed = 0;
  let finish: () => void = noop;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new BullWorker(
    'peers',
    async (job: Job<{ i: number }>) => {
      await runHttp(spec, itemContext(batchId, job.data.i, dir, job.attemptsMade + 1));
    },
    { connection, concurrency },
  );
  worker.on('completed', () => {
    if (++ok + failed === items) finish();
  });
  worker.on('failed', (job, err) => {
    if (job && job.attemptsMade < (job.opts.attempts ?? 1)) return;
    console.error(`bullmq: job ${job?.id ?? '?'} failed: ${err.message}`);
    if (ok + ++failed === items) finish();
  });
  try {
    await worker.waitUntilReady();
    await queue.waitUntilReady();
    const idle = processTreeCpuMs(redis.pid);
    await delay(1_000);
    const serverIdle = processTreeCpuMs(redis.pid) - idle;
    const server0 = processTreeCpuMs(redis.pid);
    const cpu0 = selfCpuMs();
    const t0 = performance.now();
    for (let start = 0; start < items; start += 1_000) {
      const jobs = [];
      for (let i = start; i < Math.min(items, start + 1_000); i++) {
        jobs.push({
          name: 'item',
          data: { i },
          opts: { attempts: 5, backoff: { type: 'exponential', delay: 1_000 } },
        });
      }
      await queue.addBulk(jobs);
    }
    await finished;
    const seconds = (performance.now() - t0) / 1000;
    return {
      ok,
      failed,
      seconds,
      serverCpuMs: processTreeCpuMs(redis.pid) - server0,
      workerCpuMs: selfCpuMs() - cpu0,
      serverIdleCpuMsPerSecond: serverIdle,
    };
  } finally {
    await worker.close();
    await queue.close();
    await redis.stop();
    cleanups.delete(redis.stop);
  }
}

const engines = new Map<string, Engine>();
/** The engine at `root` (a directory: this tree, or an extracted revision), loaded once. */
async function engine(root: string): Promise<Engine> {
  let e = engines.get(root);
  if (!e) engines.set(root, (e = await loadEngine(root)));
  return e;
}

/** Whether this checkout's Config knows the mode's settings (the modes of items 2-3 may be missing). */
async function supported(mode: string): Promise<string | null> {
  const { settings, root } = DURABATCH[mode]!;
  const { Config } = await engine(root);
  const parsed = Config.safeParse({ http: { url: 'http://127.0.0.1/x' }, ...settings });
  return parsed.success ? null : parsed.error.issues.map((i) => i.message).join('; ');
}

async function runDurabatch(
  mode: string,
  target: TargetProcess,
  round: number,
  csv: string,
): Promise<Sample> {
  const { settings, root } = DURABATCH[mode]!;
  const e = await engine(root);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-peers-'));
  const { server, worker, running, connection } = await startEngineStack(e, {
    home,
    dir,
    dbFile: path.join(dir, 'bench.db'),
    taskQueue: 'bench',
  });
  const stop = async (): Promise<void> => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
  cleanups.add(stop);
  temporalVersion ??= execFileSync(server.cliPath, ['--version'], { encoding: 'utf8' }).trim();
  try {
    const client = new Client({ connection });
    const batches = new e.BatchClient(client, { namespace: 'default', taskQueue: 'bench', home: dir });
    const config = e.Config.parse({
      batchId: `peers-${mode.replace('@', '-')}-r${round}-${Date.now()}`,
      idColumn: 'id',
      concurrency,
      http: { url: httpSpec(target.url).url, connections: concurrency },
      outputDir: path.join(dir, 'out'),
      taskQueue: 'bench',
      ...settings,
    });
    // Let the server settle after start-up, and measure what it burns idle.
    await delay(2_000);
    const idle0 = processTreeCpuMs(server.pid);
    await delay(2_000);
    const serverIdle = (processTreeCpuMs(server.pid) - idle0) / 2;
    const server0 = processTreeCpuMs(server.pid);
    const cpu0 = selfCpuMs();
    const t0 = performance.now();
    const started = await batches.start(csv, config);
    const result = (await started.handle.result()) as {
      succeeded: number;
      failed: number;
      runNumber?: number;
    };
    const seconds = (performance.now() - t0) / 1000;
    let note: string | undefined;
    if (result.failed > 0) {
      // Say why, while the batch can still be asked (the server and its database go at the end).
      const failures = await started.handle
        .query<{ key: string; errorType: string; errorMessage: string }[]>('failures')
        .catch(() => []);
      const first = failures[0];
      note = first ? `${first.key}: ${first.errorType}: ${first.errorMessage}` : 'failures not readable';
      console.error(`${mode} round ${round}: ${result.failed} items failed; first: ${note}`);
    }
    // CPU until the last workflow is closed (children finish just after the parent has counted them).
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const { count } = await client.workflow.count('ExecutionStatus = "Running"');
      if (count === 0) break;
      await delay(200);
    }
    const serverCpuMs = processTreeCpuMs(server.pid) - server0;
    const workerCpuMs = selfCpuMs() - cpu0;
    // History events of every execution on this fresh server: parent runs and children.
    let historyEvents = 0;
    let workflowExecutions = 0;
    let parentRuns = 0;
    for await (const wf of client.workflow.list()) {
      workflowExecutions++;
      if (wf.type === 'batchWorkflow') parentRuns++;
      let length = wf.historyLength;
      if (!length)
        length = (await client.workflow.getHandle(wf.workflowId, wf.runId).describe()).historyLength;
      historyEvents += length;
    }
    return {
      ok: result.succeeded,
      failed: result.failed,
      seconds,
      serverCpuMs,
      workerCpuMs,
      serverIdleCpuMsPerSecond: serverIdle,
      historyEvents,
      workflowExecutions,
      parentRuns,
      note,
    };
  } finally {
    await worker.shutdown();
    await running.catch(() => undefined);
    await connection.close();
    await stop();
    cleanups.delete(stop);
  }
}

let temporalVersion: string | undefined;
let redisVersion: string | undefined;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---- the run ----------------------------------------------------------------------------------

const skipped = new Map<string, string>();
for (const m of modes) {
  if (!(m in DURABATCH)) continue;
  const why = await supported(m);
  if (why) skipped.set(m, why);
}
const active = modes.filter((m) => !skipped.has(m));
for (const [m, why] of skipped) console.error(`skipping ${m}: this checkout's Config refuses it (${why})`);

const work = await mkdtemp(path.join(os.tmpdir(), 'durabatch-peers-run-'));
const csv = path.join(work, 'items.csv');
await writeFile(csv, 'id\n' + Array.from({ length: items }, (_, i) => `item-${i}`).join('\n') + '\n');
const target = await startTargetProcess(latencyMs);
cleanups.add(target.stop);
cleanups.add(() => rm(work, { recursive: true, force: true }));
const bullmqVersion = (
  JSON.parse(readFileSync(path.join(repo, 'node_modules/bullmq/package.json'), 'utf8')) as { version: string }
).version;
const meta = {
  benchmark: 'peers-run',
  run: runId,
  items,
  concurrency,
  latencyMs,
  rounds,
  contenders: active,
  skipped: Object.fromEntries(skipped),
  commit: commitOf(engineRoot),
  engine: engineRoot,
  baseline: values.baseline ? commitOf(DURABATCH['per-item@base']!.root) : undefined,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memGb: Math.round(os.totalmem() / 2 ** 30),
  kernel: os.release(),
  node: process.version,
  bullmq: bullmqVersion,
};
emit(meta);

const all: Measurement[] = [];
try {
  // Warm up this process's HTTP path (JIT, connection pool) before the first timed round.
  await runLoop(target, 0, work, Math.min(items, 500));
  for (let round = 1; round <= rounds; round++) {
    // Rotate the order every round so no contender always runs first (or right after a heavy one).
    const order = active.map((_, k) => active[(k + round - 1) % active.length]!);
    for (const contender of order) {
      const before = await target.stats();
      const sample =
        contender === 'loop'
          ? await runLoop(target, round, work)
          : contender === 'bullmq'
            ? await runBullmq(target, round, work)
            : await runDurabatch(contender, target, round, csv);
      const after = await target.stats();
      const m: Measurement = {
        benchmark: 'peers',
        run: runId,
        contender,
        round,
        items,
        concurrency,
        latencyMs,
        ok: sample.ok,
        failed: sample.failed,
        seconds: r2(sample.seconds),
        itemsPerSecond: r1(items / sample.seconds),
        serverCpuMsPerItem: sample.serverCpuMs === null ? null : r2(sample.serverCpuMs / items),
        workerCpuMsPerItem: r2(sample.workerCpuMs / items),
        totalCpuMsPerItem: r2(((sample.serverCpuMs ?? 0) + sample.workerCpuMs) / items),
        serverIdleCpuMsPerSecond:
          sample.serverIdleCpuMsPerSecond === null ? null : r1(sample.serverIdleCpuMsPerSecond),
        historyEvents: sample.historyEvents ?? null,
        historyEventsPerItem: sample.historyEvents === undefined ? null : r2(sample.historyEvents / items),
        workflowExecutions: sample.workflowExecutions ?? null,
        parentRuns: sample.parentRuns ?? null,
        targetRequests: after.stats.requests - before.stats.requests,
        targetEffects: after.stats.effects - before.stats.effects,
        targetCpuMsPerItem: r2((after.cpuMs - before.cpuMs) / items),
        workerRssMb: Math.round(process.memoryUsage().rss / 1e6),
        loadAverage1m: r2(os.loadavg()[0]!),
        ...(sample.note ? { note: sample.note } : {}),
      };
      all.push(m);
      emit(m);
    }
  }
} finally {
  await target.stop();
  await rm(work, { recursive: true, force: true });
  for (const dir of snapshots) await rm(dir, { recursive: true, force: true });
}

// ---- the table --------------------------------------------------------------------------------

/** Per-round ratio of a contender's items/s to another's, median over the rounds both ran. */
function ratioTo(contender: string, other: string): number | null {
  const ratios: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const a = all.find((m) => m.contender === contender && m.round === round);
    const b = all.find((m) => m.contender === other && m.round === round);
    if (a && b) ratios.push(a.itemsPerSecond / b.itemsPerSecond);
  }
  return ratios.length ? median(ratios) : null;
}
const fmt = (n: number | null, digits = 1): string => (n === null ? '—' : n.toFixed(digits));
const rows: string[][] = [];
const summary: Record<string, object> = {};
const baseFor = active.includes('per-item@base') ? 'per-item@base' : 'per-item';
/** Median total CPU ms per item of a contender (null when it did not run or has no figure). */
function cpuOf(contender: string): number | null {
  const xs = all.filter((m) => m.contender === contender).map((m) => m.totalCpuMsPerItem);
  return xs.length ? median(xs) : null;
}
/**
 * The base's CPU per item over the contender's: the speed-up to expect where the cores are the
 * limit. Unlike items/s it does not depend on what else the machine was doing during the run.
 */
function cpuRatioTo(contender: string, other: string): number | null {
  const a = cpuOf(contender);
  const b = cpuOf(other);
  return a && b ? b / a : null;
}
for (const contender of active) {
  const ms = all.filter((m) => m.contender === contender);
  if (!ms.length) continue;
  const ips = ms.map((m) => m.itemsPerSecond);
  const med = (f: (m: Measurement) => number | null): number | null => {
    const xs = ms.map(f).filter((x): x is number => x !== null);
    return xs.length ? median(xs) : null;
  };
  const s = {
    itemsPerSecond: { min: Math.min(...ips), median: median(ips), max: Math.max(...ips) },
    vsLoop: ratioTo(contender, 'loop'),
    vsBullmq: ratioTo(contender, 'bullmq'),
    vsPerItem: ratioTo(contender, baseFor),
    cpuVsPerItem: cpuRatioTo(contender, baseFor),
    historyEventsPerItem: med((m) => m.historyEventsPerItem),
    serverCpuMsPerItem: med((m) => m.serverCpuMsPerItem),
    workerCpuMsPerItem: med((m) => m.workerCpuMsPerItem),
    totalCpuMsPerItem: med((m) => m.totalCpuMsPerItem),
    failed: ms.reduce((n, m) => n + m.failed, 0),
  };
  summary[contender] = s;
  rows.push([
    contender,
    `${fmt(s.itemsPerSecond.min)} / ${fmt(s.itemsPerSecond.median)} / ${fmt(s.itemsPerSecond.max)}`,
    fmt(s.vsLoop, 3),
    fmt(s.vsBullmq, 2),
    fmt(s.vsPerItem, 2),
    fmt(s.cpuVsPerItem, 2),
    fmt(s.historyEventsPerItem, 2),
    fmt(s.serverCpuMsPerItem, 2),
    fmt(s.workerCpuMsPerItem, 2),
    fmt(s.totalCpuMsPerItem, 2),
  ]);
}
const versions = {
  temporal: temporalVersion,
  redis: redisVersion,
  bullmq: bullmqVersion,
  node: process.version,
};
emit({ benchmark: 'peers-summary', run: runId, items, concurrency, latencyMs, rounds, versions, summary });

const header = [
  'contender',
  'items/s min / median / max',
  '× loop',
  '× BullMQ',
  `× ${baseFor}`,
  `× ${baseFor} by CPU`,
  'history events / item',
  'server CPU ms / item',
  'worker CPU ms / item',
  'total CPU ms / item',
];
const align = ['---', ...header.slice(1).map(() => '--:')];
const table = [header, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
console.log(
  `\n${items} items, concurrency ${concurrency}, target latency ${latencyMs} ms, ${rounds} rounds ` +
    `(ratios: median of per-round ratios)\n\n${table}\n`,
);
for (const [m, why] of skipped) console.log(`not run: ${m} (${why})`);
for (const m of all.filter((x) => x.failed > 0)) {
  console.log(`FAILED ITEMS: ${m.contender} round ${m.round}: ${m.failed} of ${m.items} (${m.note ?? '?'})`);
}
console.log(JSON.stringify(versions));

// ---- issue 13's targets -----------------------------------------------------------------------

type Summary = {
  [K in 'vsLoop' | 'vsBullmq' | 'vsPerItem' | 'cpuVsPerItem' | 'historyEventsPerItem' | 'totalCpuMsPerItem']:
    number | null;
};
const checks: { target: string; value: number | null; limit: number; atLeast: boolean }[] = [];
const get = (c: string): Summary | undefined => summary[c] as Summary | undefined;
const today = baseFor === 'per-item@base' ? 'today (per-item@base)' : 'per-item (this checkout: not "today")';
const check = (target: string, value: number | null | undefined, limit: number, atLeast: boolean): void => {
  if (value !== undefined) checks.push({ target, value, limit, atLeast });
};
if (latencyMs === 0) {
  check(`per-item: items/s × ${today}`, get('per-item')?.vsPerItem, 2, true);
  check(`per-item: CPU ratio to ${today}`, get('per-item')?.cpuVsPerItem, 2, true);
  check('per-item: total CPU ms / item', get('per-item')?.totalCpuMsPerItem, 50, false);
  check(`per-item-local: items/s × ${today}`, get('per-item-local')?.vsPerItem, 2, true);
  check(`per-item-local: CPU ratio to ${today}`, get('per-item-local')?.cpuVsPerItem, 2, true);
  check('per-item-local: total CPU ms / item', get('per-item-local')?.totalCpuMsPerItem, 50, false);
  check(`page: items/s × ${today}`, get('page')?.vsPerItem, 8, true);
  check(`page: CPU ratio to ${today}`, get('page')?.cpuVsPerItem, 8, true);
  check('page: total CPU ms / item', get('page')?.totalCpuMsPerItem, 13, false);
  check('page: history events / item', get('page')?.historyEventsPerItem, 4, false);
  check(`page-local: items/s × ${today}`, get('page-local')?.vsPerItem, 15, true);
  check(`page-local: CPU ratio to ${today}`, get('page-local')?.cpuVsPerItem, 15, true);
  check('page-local: total CPU ms / item', get('page-local')?.totalCpuMsPerItem, 6, false);
  check('page-local: items/s × BullMQ', get('page-local')?.vsBullmq, 0.5, true);
} else {
  check('page: items/s × loop (target latency)', get('page')?.vsLoop, 0.8, true);
}
if (checks.length) {
  console.log('issue 13 targets:');
  for (const c of checks) {
    if (c.value === null) {
      console.log(`  n/a    ${c.target} (not measured in this run)`);
      continue;
    }
    const met = c.atLeast ? c.value >= c.limit : c.value <= c.limit;
    const off = Math.abs((c.value - c.limit) / c.limit) * 100;
    const how = met ? `${fmt(off, 0)}% to spare` : `missed by ${fmt(off, 0)}%`;
    const limit = `${c.atLeast ? '≥' : '≤'} ${c.limit}`;
    console.log(`  ${met ? 'MET   ' : 'MISSED'} ${c.target}: ${fmt(c.value, 2)} (target ${limit}, ${how})`);
  }
  emit({ benchmark: 'peers-targets', run: runId, checks });
}
process.exit(0);

// Size benchmark (issue 13, item 7): one large batch in page mode, run to the end (or stopped at a
// deadline and recorded as incomplete), with its memory, database size and parent runs.
//
//   npx tsx bench/scale.ts --items N [--items-per-child 100] [--item-execution activity|local|runner]
//                          [--concurrency 100] [--engine REV|DIR] [--max-seconds S] [--stop-at ISO]
//                          [--sqlite-pragmas p1=v1,p2=v2] [--sample-seconds 60] [--note TEXT]
//
// A fresh embedded dev server (SQLite with durabatch's pragmas, in a temp dir), one in-process
// worker, the bench's zero-latency target in a process of its own (bench/lib/target.ts: faults off),
// and a source CSV of N rows generated into the temp dir (bench/gen-csv.ts: 6 columns, ~75 bytes a
// row). Measured from the start request (staging included) to the batch's result:
// seconds and items/s; this process's RSS (worker + client + bench) sampled every second, peak and
// at the end; the dev server's RSS from /proc/<pid>/status (peak of the samples and the kernel's
// VmHWM); the SQLite database at the end (.db + -wal + -shm); parent runs (continue-as-new count,
// from the final progress and from visibility); history events per item (historyLength of every
// execution, closed runs included); CPU ms per item of the server and of this process; and the
// target's effects, which must equal N (exactly once). Every minute (--sample-seconds) a sample goes
// to stderr and into the record's `timeline`.
//
// --max-seconds / --stop-at (or Ctrl-C) stop a run that cannot finish in time: the record then says
// `"complete": false` with how far the batch got and its rate, and the batch is left unfinished on
// a server that is thrown away. --engine REV runs durabatch from that git revision (git archive into
// a temp dir), so a long run does not pick up edits in progress. --sqlite-pragmas replaces the
// engine's SQLite pragmas for a measurement. One JSON line per run (with NODE_OPTIONS, the pragmas
// and --note) is printed and appended to bench/results/scale.jsonl.
import { mkdirSync, appendFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import { generateCsv } from './gen-csv';
import { loadEngine, repoRoot, startEngineStack } from './lib/engine';
import { processTreeCpuMs, selfCpuMs } from './lib/proc-cpu';
import { procMem } from './lib/proc-mem';
import { startTargetProcess } from './lib/target';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '10000' },
    'items-per-child': { type: 'string', default: '100' },
    'item-execution': { type: 'string', default: 'activity' },
    concurrency: { type: 'string', default: '100' },
    engine: { type: 'string' },
    'max-seconds': { type: 'string' },
    'stop-at': { type: 'string' },
    'sqlite-pragmas': { type: 'string' },
    'sample-seconds': { type: 'string', default: '60' },
    note: { type: 'string' },
    out: { type: 'string' },
  },
});
const items = Number(values.items);
const itemsPerChild = Number(values['items-per-child']);
const itemExecution = values['item-execution'];
const concurrency = Number(values.concurrency);
if (!(items > 0) || !(itemsPerChild > 0) || !(concurrency > 0)) {
  throw new Error('--items, --items-per-child and --concurrency must be positive numbers');
}
if (itemExecution !== 'activity' && itemExecution !== 'local' && itemExecution !== 'runner') {
  throw new Error(`--item-execution must be activity, local or runner, not ${itemExecution}`);
}
const sampleSeconds = Number(values['sample-seconds']);
if (!(sampleSeconds > 0)) throw new Error('--sample-seconds must be a positive number');
const sqlitePragmas = values['sqlite-pragmas']?.split(',').filter(Boolean);
const outFile = values.out ?? path.join(repoRoot, 'bench', 'results', 'scale.jsonl');
mkdirSync(path.dirname(outFile), { recursive: true });
const mode =
  itemExecution === 'runner'
    ? 'runner'
    : itemsPerChild > 1
      ? itemExecution === 'local'
        ? 'page-local'
        : 'page'
      : 'per-item';

const MB = 1e6;
const r1 = (n: number): number => Math.round(n * 10) / 10;
const r2 = (n: number): number => Math.round(n * 100) / 100;
const mb = (bytes: number): number => Math.round(bytes / MB);

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
/** The database as SQLite keeps it: the main file plus its WAL and shared-memory index. */
function dbBytes(dbFile: string): { db: number; wal: number; shm: number; total: number } {
  const db = fileSize(dbFile);
  const wal = fileSize(`${dbFile}-wal`);
  const shm = fileSize(`${dbFile}-shm`);
  return { db, wal, shm, total: db + wal + shm };
}

// Stop early: at a deadline, after a duration, or on Ctrl-C / SIGTERM.
let stopReason: string | undefined;
let wake: () => void = () => undefined;
const stop = (why: string): void => {
  stopReason ??= why;
  wake();
};
process.once('SIGINT', () => stop('interrupted (SIGINT)'));
process.once('SIGTERM', () => stop('interrupted (SIGTERM)'));

const engine = await loadEngine(values.engine);
const home = path.join(repoRoot, '.durabatch');
const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-scale-'));
const csv = path.join(dir, 'items.csv');
const tGen = performance.now();
await generateCsv(csv, items);
const csvSeconds = (performance.now() - tGen) / 1000;

const target = await startTargetProcess(0);
const {
  server,
  worker,
  connection,
  stop: stopStack,
} = await startEngineStack(engine, {
  home,
  dir,
  dbFile: path.join(dir, 'scale.db'),
  taskQueue: 'scale',
  sqlitePragmas,
});

// Memory, sampled every second from the start request on.
let workerPeakRss = 0;
let workerPeakHeapTotal = 0;
let serverPeakRss = 0;
const sampleMemory = (): void => {
  const mem = process.memoryUsage();
  workerPeakRss = Math.max(workerPeakRss, mem.rss);
  // The main thread's V8 heap only: the workflow thread's and the SDK core's are the rest of RSS.
  workerPeakHeapTotal = Math.max(workerPeakHeapTotal, mem.heapTotal);
  serverPeakRss = Math.max(serverPeakRss, procMem(server.pid)?.rssBytes ?? 0);
};
const sampler = setInterval(sampleMemory, 1_000);

interface TimelineSample {
  minute: number;
  /** Since the start request. */
  seconds: number;
  done: number;
  itemsPerSecond: number;
  workerRssMb: number;
  /** Of the worker's RSS: V8's JS heap (used / reserved) and memory outside it (Buffers, the SDK core). */
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  serverRssMb: number;
  dbMb: number;
  runNumber: number;
  /** Workflows in the worker's cache (open pages and parent runs; a closed one leaves it). */
  cachedWorkflows: number;
  /** CPU per item done since the last sample: the server's and this process's. */
  serverCpuMsPerItem: number | null;
  workerCpuMsPerItem: number | null;
  load1m: number;
}
const timeline: TimelineSample[] = [];

const batchId = `scale-${mode}-${items}-${Date.now()}`;
const client = new Client({ connection });
const batches = new engine.BatchClient(client, { namespace: 'default', taskQueue: 'scale', home: dir });
const config = engine.Config.parse({
  batchId,
  idColumn: 'id',
  concurrency,
  itemsPerChild,
  itemExecution,
  http: { url: `${target.url}/api/bench`, connections: concurrency },
  outputDir: path.join(dir, 'out'),
  taskQueue: 'scale',
});
const deadlines: number[] = [];
if (values['max-seconds']) deadlines.push(Date.now() + Number(values['max-seconds']) * 1000);
if (values['stop-at']) deadlines.push(Date.parse(values['stop-at']));
if (deadlines.some((d) => Number.isNaN(d))) throw new Error('--max-seconds or --stop-at is not a time');
const deadline = deadlines.length ? Math.min(...deadlines) : Infinity;

try {
  await delay(2_000); // let the server settle after start-up
  const server0 = processTreeCpuMs(server.pid);
  const self0 = selfCpuMs();
  sampleMemory();
  const t0 = performance.now();
  const started = await batches.start(csv, config);
  const startSeconds = (performance.now() - t0) / 1000;
  const progressNow = async (): Promise<{ done: number; runNumber: number } | undefined> => {
    try {
      const p = await batches.progress(batchId);
      return { done: p.succeeded + p.failed + p.skipped + p.cancelled, runNumber: p.runNumber };
    } catch {
      return undefined; // a query can time out while the parent continues-as-new
    }
  };
  let lastCpu = { server: server0, self: self0 };
  const logMinute = async (): Promise<void> => {
    const p = await progressNow();
    if (!p) return;
    const elapsed = (performance.now() - t0) / 1000;
    const last = timeline.at(-1);
    const mem = process.memoryUsage();
    const cpu = { server: processTreeCpuMs(server.pid), self: selfCpuMs() };
    const doneNow = p.done - (last?.done ?? 0);
    const perItem = (now: number, before: number): number | null =>
      doneNow > 0 ? r2((now - before) / doneNow) : null;
    const s: TimelineSample = {
      minute: r1(elapsed / 60),
      seconds: r1(elapsed),
      done: p.done,
      // Rate since the last sample (the whole run's rate is in the final record).
      itemsPerSecond: r1(last ? (p.done - last.done) / (elapsed - last.seconds) : p.done / elapsed),
      workerRssMb: mb(mem.rss),
      heapUsedMb: mb(mem.heapUsed),
      heapTotalMb: mb(mem.heapTotal),
      externalMb: mb(mem.external),
      serverRssMb: mb(procMem(server.pid)?.rssBytes ?? 0),
      dbMb: mb(dbBytes(server.dbFile).total),
      runNumber: p.runNumber,
      cachedWorkflows: worker.worker.getStatus().numCachedWorkflows,
      serverCpuMsPerItem: perItem(cpu.server, lastCpu.server),
      workerCpuMsPerItem: perItem(cpu.self, lastCpu.self),
      load1m: r2(os.loadavg()[0]!),
    };
    lastCpu = cpu;
    timeline.push(s);
    console.error(`scale ${JSON.stringify(s)}`);
  };
  const minutes = setInterval(() => void logMinute(), sampleSeconds * 1000);
  const timer = Number.isFinite(deadline)
    ? setTimeout(
        () => stop(`stopped at the deadline ${new Date(deadline).toISOString()}`),
        deadline - Date.now(),
      )
    : undefined;

  const resultWait = started.handle.result();
  resultWait.catch(() => undefined);
  const outcome = await Promise.race([
    resultWait.then((r) => ({ kind: 'result' as const, result: r })),
    new Promise<{ kind: 'stopped' }>((resolve) => {
      wake = () => resolve({ kind: 'stopped' });
      if (stopReason) wake();
    }),
  ]);
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(minutes);
  if (timer) clearTimeout(timer);
  sampleMemory();
  clearInterval(sampler);

  const complete = outcome.kind === 'result';
  const result = complete
    ? (outcome.result as { status: string; succeeded: number; failed: number; runNumber: number })
    : undefined;
  const partial = complete ? undefined : await progressNow();
  if (!complete) {
    // End the batch on this throwaway server so the pending result long-poll settles before the
    // connection closes (otherwise its retry throws "Channel has been shut down" during clean-up).
    await started.handle.terminate('bench/scale.ts stopped the run').catch(() => undefined);
    await Promise.race([resultWait.catch(() => undefined), delay(10_000)]);
  }
  const done = result ? result.succeeded + result.failed : (partial?.done ?? 0);
  const serverCpuMs = processTreeCpuMs(server.pid) - server0;
  const selfCpuMsUsed = selfCpuMs() - self0;
  const db = dbBytes(server.dbFile);
  const workerEndRss = process.memoryUsage().rss;
  const serverMem = procMem(server.pid);
  const targetStats = await target.stats();

  // Parent runs and history events from visibility (every execution on this fresh server).
  let historyEvents = 0;
  let executions = 0;
  let parentRuns = 0;
  if (complete) {
    for await (const wf of client.workflow.list()) {
      executions++;
      if (wf.type === 'batchWorkflow') parentRuns++;
      historyEvents +=
        wf.historyLength ||
        (await client.workflow.getHandle(wf.workflowId, wf.runId).describe()).historyLength;
    }
  }

  const record = {
    benchmark: 'scale',
    at: new Date().toISOString(),
    commit: engine.commit,
    mode,
    items,
    itemsPerChild,
    itemExecution,
    concurrency,
    complete,
    ...(complete ? {} : { stopReason, itemsDone: done, percentDone: r1((done / items) * 100) }),
    status: result?.status ?? 'running (stopped)',
    succeeded: result?.succeeded ?? null,
    failed: result?.failed ?? null,
    seconds: r1(seconds),
    startSeconds: r1(startSeconds),
    itemsPerSecond: r1(done / seconds),
    workerRssPeakMb: mb(workerPeakRss),
    workerRssEndMb: mb(workerEndRss),
    workerMainHeapPeakMb: mb(workerPeakHeapTotal),
    workerMaxRssMb: mb(process.resourceUsage().maxRSS * 1024),
    serverRssPeakMb: mb(serverPeakRss),
    serverVmHwmMb: serverMem ? mb(serverMem.peakRssBytes) : null,
    serverRssEndMb: serverMem ? mb(serverMem.rssBytes) : null,
    dbMb: r1(db.total / MB),
    dbFileMb: r1(db.db / MB),
    walMb: r1(db.wal / MB),
    shmMb: r1(db.shm / MB),
    dbBytesPerItem: done ? Math.round(db.total / done) : null,
    parentRuns: result?.runNumber ?? partial?.runNumber ?? null,
    parentRunsListed: complete ? parentRuns : null,
    workflowExecutions: complete ? executions : null,
    historyEventsPerItem: complete ? r2(historyEvents / items) : null,
    serverCpuMsPerItem: done ? r2(serverCpuMs / done) : null,
    workerCpuMsPerItem: done ? r2(selfCpuMsUsed / done) : null,
    targetEffects: targetStats.stats.effects,
    targetRequests: targetStats.stats.requests,
    exactlyOnce: complete ? targetStats.stats.effects === items : null,
    csvSeconds: r1(csvSeconds),
    csvMb: r1(fileSize(csv) / MB),
    load1mEnd: r2(os.loadavg()[0]!),
    cpus: os.cpus().length,
    node: process.version,
    nodeOptions: process.env.NODE_OPTIONS ?? null,
    sqlitePragmas: sqlitePragmas ?? 'engine default',
    ...(values.note ? { note: values.note } : {}),
    timeline,
  };
  const line = JSON.stringify(record);
  console.log(line);
  appendFileSync(outFile, line + '\n');
} finally {
  clearInterval(sampler);
  await stopStack();
  await target.stop();
  await rm(dir, { recursive: true, force: true });
  engine.dispose();
}
process.exit(0);

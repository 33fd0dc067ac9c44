// Status benchmark of the batch service (issue 24): `GET /v1/batches/{id}` latency with 20 batches
// running and 50 clients polling, each client asking for one batch at random, back to back.
//
//   npm run bench:api-status [-- --batches 20 --clients 50 --seconds 30 --latency-ms 10000]
//
// Everything is real and in its own process, so the service's CPU and memory are its own: a fresh
// embedded dev server, the HTTP target (fixed latency, so items stay running), `durabatch serve`
// (the CLI bundle, with a bearer token), and the load generator (this file forked with --load). The
// worker runs in this process. One JSON document goes to stdout and to bench/results/api-status.json
// (or --out); docs/performance.md "Service" has the table.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { on, once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import { Agent, request } from 'undici';
import { newToken } from '../src/api/auth';
import { generateCsv } from './gen-csv';
import { loadEngine, repoRoot, startEngineStack } from './lib/engine';
import { processTreeCpuMs } from './lib/proc-cpu';
import { procMem } from './lib/proc-mem';
import { startTargetProcess } from './lib/target';

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '20' },
    clients: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '30' },
    'warmup-seconds': { type: 'string', default: '3' },
    'latency-ms': { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '2' },
    items: { type: 'string', default: '100' },
    'status-cache-ms': { type: 'string', default: '250' },
    out: { type: 'string' },
    // Writes a V8 CPU profile of the service (node --cpu-prof) into this directory.
    'service-cpu-prof': { type: 'string' },
    // The load generator's own mode (this file forked by the benchmark).
    load: { type: 'boolean', default: false },
    url: { type: 'string' },
    token: { type: 'string' },
    ids: { type: 'string' },
  },
});

/** What the load generator measured: every request's latency in ms, and how requests ended. */
interface LoadResult {
  latenciesMs: number[];
  byStatus: Record<string, number>;
  errors: number;
  firstError: string | null;
  seconds: number;
}

/**
 * The load generator: `clients` loops, each GETs the status of a batch picked at random, reads the
 * whole answer, and asks again at once. Requests during the warm-up are not counted. One keep-alive
 * connection per client, as a polling application would hold.
 */
async function generateLoad(): Promise<LoadResult> {
  const ids = values.ids!.split(',');
  const clients = Number(values.clients);
  const warmupMs = Number(values['warmup-seconds']) * 1000;
  const measureMs = Number(values.seconds) * 1000;
  const agent = new Agent({ connections: clients, pipelining: 1, keepAliveTimeout: 60_000 });
  const headers = { authorization: `Bearer ${values.token}` };
  const result: LoadResult = { latenciesMs: [], byStatus: {}, errors: 0, firstError: null, seconds: 0 };
  const t0 = performance.now();
  const measureFrom = t0 + warmupMs;
  const until = measureFrom + measureMs;
  // Tells the benchmark when the measured window opens, so it reads the service's CPU from then.
  setTimeout(() => process.send?.({ measuring: true }), warmupMs);
  const client = async (): Promise<void> => {
    while (performance.now() < until) {
      const id = ids[Math.floor(Math.random() * ids.length)]!;
      const started = performance.now();
      let status: string;
      let body: string;
      try {
        const res = await request(`${values.url}/v1/batches/${id}`, { headers, dispatcher: agent });
        body = await res.body.text();
        status = String(res.statusCode);
      } catch (err) {
        status = 'network-error';
        body = err instanceof Error ? err.message : String(err);
      }
      const ended = performance.now();
      if (started < measureFrom) continue;
      result.latenciesMs.push(ended - started);
      result.byStatus[status] = (result.byStatus[status] ?? 0) + 1;
      if (status !== '200') {
        result.errors += 1;
        result.firstError ??= `${status}: ${body.slice(0, 300)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  result.seconds = (performance.now() - measureFrom) / 1000;
  await agent.close();
  return result;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const mb = (bytes: number) => round(bytes / 1024 ** 2);

/** The p-th percentile (nearest rank) of sorted values. */
const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** Starts `durabatch serve` (the CLI bundle) on a free port; resolves once it prints its address. */
async function startService(
  configFile: string,
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const profile = values['service-cpu-prof'];
  const child = spawn(
    process.execPath,
    [
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profile)}`] : []),
      path.join(repoRoot, 'bin', 'durabatch.js'),
      'serve',
      '--config',
      configFile,
      '--port',
      '0',
    ],
    { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4_000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`durabatch serve exited with ${code}:\n${stderr}`)));
  });
  return { child, url, log: () => stderr };
}

async function main(): Promise<void> {
  const batches = Number(values.batches);
  const clients = Number(values.clients);
  const latencyMs = Number(values['latency-ms']);
  const concurrency = Number(values.concurrency);
  const items = Number(values.items);
  const statusCacheMs = Number(values['status-cache-ms']);
  const seconds = Number(values.seconds);
  if (
    ![batches, clients, latencyMs, concurrency, items, seconds].every((n) => n > 0) ||
    !(statusCacheMs >= 0)
  )
    throw new Error('--batches, --clients, --seconds, --latency-ms, --concurrency and --items must be > 0');
  // Items must outlast the measurement, or the batches stop being "running" halfway.
  const batchSeconds = (items / concurrency) * (latencyMs / 1000);
  if (batchSeconds < seconds + 60)
    throw new Error(`a batch would end after ~${Math.round(batchSeconds)} s: raise --items or --latency-ms`);
  const outFile = values.out ?? path.join(repoRoot, 'bench', 'results', 'api-status.json');
  mkdirSync(path.dirname(outFile), { recursive: true });

  // Other work on the machine shows here: the figures are only comparable at a similar load.
  const loadBefore = os.loadavg()[0]!;
  const engine = await loadEngine();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-api-status-'));
  const taskQueue = 'api-status-bench';
  const target = await startTargetProcess(latencyMs);
  const stack = await startEngineStack(engine, {
    home: path.join(repoRoot, '.durabatch'),
    dir,
    dbFile: path.join(dir, 'api-status.db'),
    taskQueue,
  });
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  try {
    const batchClient = new engine.BatchClient(new Client({ connection: stack.connection }), {
      namespace: 'default',
      taskQueue,
      home: dir,
    });
    const csv = path.join(dir, 'items.csv');
    await generateCsv(csv, items);
    const ids: string[] = [];
    const run = Date.now().toString(36);
    for (let b = 0; b < batches; b++) {
      const batchId = `api-status-${run}-${b}`;
      await batchClient.start(
        csv,
        engine.Config.parse({
          batchId,
          idColumn: 'id',
          concurrency,
          http: { url: `${target.url}/api/bench`, timeoutMs: latencyMs + 30_000 },
          outputDir: path.join(dir, 'out', batchId),
          taskQueue,
        }),
      );
      ids.push(batchId);
    }
    process.stderr.write(`${batches} batches started; waiting until each has items in flight\n`);
    for (const id of ids) {
      for (let i = 0; ; i++) {
        const p = await batchClient.progress(id).catch(() => undefined);
        if (p && p.running > 0) break;
        if (i > 120) throw new Error(`batch ${id} has no item running after a minute`);
        await delay(500);
      }
    }

    // The service as deployed: its own process, a bearer token, the status cache as configured.
    // The rate limit is raised: 50 back-to-back clients on one token would otherwise be 429s.
    const { token, entry } = newToken('bench', ['read']);
    const configFile = path.join(dir, 'service.json');
    await writeFile(
      configFile,
      JSON.stringify({ api: { tokens: [entry], statusCacheMs, rateLimitPerMinute: 100_000_000 } }),
    );
    service = await startService(configFile, {
      ...process.env,
      TEMPORAL_ADDRESS: stack.server.address,
      TEMPORAL_NAMESPACE: 'default',
      DURABATCH_HOME: dir,
      DURABATCH_LOG_LEVEL: 'warn',
    });
    const servicePid = service.child.pid!;
    process.stderr.write(
      `service at ${service.url} (pid ${servicePid}); ${clients} clients for ${seconds} s\n`,
    );

    const loader = fork(
      fileURLToPath(import.meta.url),
      [
        '--load',
        '--url',
        service.url,
        '--token',
        token,
        '--ids',
        ids.join(','),
        '--clients',
        String(clients),
        '--seconds',
        String(seconds),
        '--warmup-seconds',
        values['warmup-seconds'],
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    // CPU and memory of the service over the measured window only (after the warm-up).
    // A load generator that dies ends the wait (as an AbortError) instead of hanging it.
    const loaderGone = new AbortController();
    loader.once(
      'exit',
      (code) => code !== 0 && loaderGone.abort(new Error(`the load generator exited with ${code}`)),
    );
    const answers = on(loader, 'message', { signal: loaderGone.signal });
    await answers.next();
    const cpu0 = processTreeCpuMs(servicePid);
    const serverCpu0 = processTreeCpuMs(stack.server.pid);
    const rssStart = procMem(servicePid)?.rssBytes ?? 0;
    let rssPeak = rssStart;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, procMem(servicePid)?.rssBytes ?? 0);
    }, 250);
    const [load] = (await answers.next()).value as [LoadResult];
    clearInterval(sampler);
    const cpuMs = processTreeCpuMs(servicePid) - cpu0;
    const serverCpuMs = processTreeCpuMs(stack.server.pid) - serverCpu0;
    const rssEnd = procMem(servicePid)?.rssBytes ?? 0;

    // Still running at the end: the measurement was against running batches throughout.
    let stillRunning = 0;
    for (const id of ids) if ((await batchClient.progress(id)).status === 'running') stillRunning += 1;

    const sorted = [...load.latenciesMs].sort((a, b) => a - b);
    const total = sorted.length;
    const p95 = percentile(sorted, 95);
    const record = {
      benchmark: 'api-status',
      run: new Date().toISOString(),
      commit: engine.commit,
      machine: {
        cpus: os.cpus().length,
        node: process.version,
        loadAverage1m: { atStart: round(loadBefore, 2), atEnd: round(os.loadavg()[0]!, 2) },
      },
      setup: {
        batches,
        batchesRunningAtEnd: stillRunning,
        itemsPerBatch: items,
        concurrencyPerBatch: concurrency,
        targetLatencyMs: latencyMs,
        clients,
        seconds: round(load.seconds),
        warmupSeconds: Number(values['warmup-seconds']),
        statusCacheMs,
        service: 'durabatch serve (own process, bearer token)',
      },
      requests: total,
      requestsPerSecond: round(total / load.seconds),
      errors: load.errors,
      byStatus: load.byStatus,
      firstError: load.firstError,
      latencyMs: {
        p50: round(percentile(sorted, 50)),
        p95: round(p95),
        p99: round(percentile(sorted, 99)),
        max: round(sorted[total - 1] ?? NaN),
        avg: round(sorted.reduce((s, v) => s + v, 0) / total),
      },
      service: {
        cpuMs: Math.round(cpuMs),
        cpuCores: round(cpuMs / 1000 / load.seconds, 2),
        cpuMsPerRequest: round(cpuMs / total, 3),
        rssMb: { start: mb(rssStart), peak: mb(rssPeak), end: mb(rssEnd) },
      },
      temporalServer: { cpuCores: round(serverCpuMs / 1000 / load.seconds, 2) },
      target: { p95BelowMs: 100, met: p95 < 100 && load.errors === 0 && stillRunning === batches },
    };
    const text = JSON.stringify(record, null, 2);
    console.log(text);
    writeFileSync(outFile, text + '\n');
    if (!record.target.met) process.exitCode = 1;
  } finally {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGTERM');
      await once(service.child, 'exit');
    }
    // Cancelling is left to the server's end: its database is a temp file removed below.
    await stack.stop();
    await target.stop();
    engine.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

if (values.load) {
  const result = await generateLoad();
  process.send!(result, () => process.exit(0));
} else {
  await main();
}

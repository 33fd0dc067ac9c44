// durabatch on a production Temporal cluster, natively: PostgreSQL, the Temporal server and the UI
// server built from pinned sources (scripts/cluster/), the frontend requiring client certificates.
// Real `durabatch` processes only (CLI and workers), configured the way a user would: Temporal's
// TEMPORAL_* variables and DURABATCH_HOME on storage the workers share.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import {
  batchHistory,
  costBetween,
  cpuSeconds,
  readMeters,
  type BatchCost,
} from '../../scripts/cluster/measure';
import { startNativeCluster, type NativeCluster } from '../../scripts/cluster/native-cluster';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import type { BatchProgress } from '../../workflows/types';
import { runCli } from '../helpers/cli';
import { patientRows, writeCsv } from '../helpers/files';
import { chromiumInstalled, launchChromium } from '../ui/web-ui-driver';
import { installTools, toolPaths } from './tools';

// Per-item mode costs the server the most per item: its batch is the smallest that still spans the kills.
const ITEMS = Number(process.env.DURABATCH_CLUSTER_ITEMS ?? 1_000);
const PAGED_ITEMS = Number(process.env.DURABATCH_CLUSTER_PAGED_ITEMS ?? 3_000);
type BatchMode = 'item' | 'page' | 'runner';
const MODE_FLAGS: Record<BatchMode, string[]> = {
  item: [],
  page: ['--items-per-child', '100'],
  runner: ['--items-per-child', '1000', '--item-execution', 'runner'],
};
const BIN = path.resolve('bin/durabatch.js');
const ARTIFACTS = path.resolve('test-artifacts', 'cluster');

interface WorkerProc {
  name: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logFile: string;
}

describe('durabatch on a native Temporal cluster (PostgreSQL, mutual TLS)', () => {
  let dir: string;
  let cluster: NativeCluster;
  let target: TargetApi;
  let shared: string; // the "shared storage": DURABATCH_HOME and outputs of every process
  const workers: WorkerProc[] = [];
  // Start-up figures in ms, and per mode what its batch cost the cluster (scripts/cluster/measure.ts).
  const timings: Record<string, number | BatchCost> = {};

  const envFor = (namespace: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    ...cluster.clientEnv(namespace),
    DURABATCH_HOME: path.join(shared, '.durabatch'),
    ...extra,
  });

  const ANY_PROCESSOR = {
    DURABATCH_ALLOW_COMMANDS: '*',
    DURABATCH_ALLOW_MODULES: '*',
    DURABATCH_ALLOW_ORIGINS: '*',
  };
  const spawnWorker = (namespace: string, name: string, extra: NodeJS.ProcessEnv = {}): WorkerProc => {
    const logFile = path.join(dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [BIN, 'worker'], {
      cwd: shared,
      // These workers run the test's own batches: whatever they name (a worker allows nothing by default).
      env: { ...process.env, ...ANY_PROCESSOR, ...envFor(namespace, extra) },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const w = { name, child, exited, logFile };
    workers.push(w);
    return w;
  };

  const stopWorkers = async () => {
    for (const w of workers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
  };

  const client = async (namespace: string) => {
    const connection = await Connection.connect(cluster.connectionOptions());
    return { connection, client: new Client({ connection, namespace }) };
  };

  beforeAll(async () => {
    let t = Date.now();
    const tools = toolPaths(await installTools('all'));
    timings.toolsMs = Date.now() - t;
    dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-cluster-test-'));
    await chmod(dir, 0o755); // as root, PostgreSQL runs as `postgres` and must reach its directory
    shared = path.join(dir, 'shared');
    await mkdir(shared, { recursive: true });
    t = Date.now();
    [cluster, target] = await Promise.all([
      startNativeCluster({
        tools,
        dir: path.join(dir, 'cluster'),
        tls: true,
        ui: true,
        log: (m) => process.stderr.write(`[cluster] ${m}\n`),
      }),
      startTargetApi({ failureRate: 0.03, rateLimitRate: 0.01, latencyMs: [5, 40] }),
    ]);
    timings.clusterStartMs = Date.now() - t;
  });

  afterAll(async () => {
    await stopWorkers();
    await target?.close();
    await cluster?.stop();
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(path.join(ARTIFACTS, 'timings.json'), JSON.stringify(timings, null, 2) + '\n');
    if (dir && process.env.DURABATCH_KEEP_TEST_FILES !== 'true')
      await rm(dir, { recursive: true, force: true });
  });

  it('refuses a client without a certificate the cluster trusts, and says so with a hint', async () => {
    const tls = cluster.tls!;
    // No certificate at all.
    const plain = await runCli(['list'], {
      env: { ...envFor('default'), TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_TLS_CLIENT_KEY_PATH: '' },
      cwd: shared,
    });
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).not.toMatch(/unexpected error/);
    expect(plain.stderr).toMatch(/fix:/);
    // A certificate from a CA the server does not trust.
    const stranger = await runCli(['list'], {
      env: {
        ...envFor('default'),
        TEMPORAL_TLS_CLIENT_CERT_PATH: tls.strangerCertFile,
        TEMPORAL_TLS_CLIENT_KEY_PATH: tls.strangerKeyFile,
      },
      cwd: shared,
    });
    expect(stranger.code).not.toBe(0);
    expect(stranger.stderr).not.toMatch(/unexpected error/);
    expect(stranger.stderr).toMatch(/fix:/);
  });

  it('reports a namespace that does not exist with its real cause and the command that creates it', async () => {
    const r = await runCli(['list'], { env: envFor('no-such-namespace'), cwd: shared });
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(r.stderr).toMatch(/no-such-namespace/);
    expect(r.stderr).toMatch(/temporal operator namespace create --namespace no-such-namespace/);
    expect(r.code).toBe(2);
  });

  it('runs a batch on a fresh namespace at the first attempt (search attributes registered and awaited)', async () => {
    const csv = await writeCsv(dir, 'small.csv', patientRows(5));
    for (const ns of ['fresh-1', 'fresh-2', 'fresh-3']) {
      await cluster.createNamespace(ns);
      const t = Date.now();
      const r = await runCli(
        ['run', csv, '--url', `${target.url}/patients`, '--id-column', 'id', '--batch-id', `${ns}-batch`],
        {
          env: envFor(ns),
          cwd: shared,
          timeoutMs: 180_000,
        },
      );
      expect(r.stderr).not.toMatch(/unexpected error|no mapping/);
      expect(r.code, r.stderr).toBe(0);
      timings[`firstRun_${ns}_ms`] = Date.now() - t;
      const { connection } = await client(ns);
      const listed = await connection.operatorService.listSearchAttributes({ namespace: ns });
      expect(Object.keys(listed.customAttributes ?? {})).toEqual(
        expect.arrayContaining(Object.keys(SEARCH_ATTRIBUTES)),
      );
      await connection.close();
    }
  });

  /**
   * One batch on two fresh workers through a kill -9 of a worker at 25% and of the server at 50%
   * (restarted on the same database), then `verify --effects`; returns what it cost the cluster.
   */
  let namespaceCreated: Promise<void> | undefined;
  const runThroughKills = async (
    mode: BatchMode,
    items: number,
    checks?: (batchId: string) => Promise<void>,
  ) => {
    const ns = 'durabatch';
    namespaceCreated ??= cluster.createNamespace(ns); // once: every mode's batch runs in it
    await namespaceCreated;
    await stopWorkers(); // the previous mode's: each batch runs on two workers of its own
    // A target of its own: its ledger holds this batch's effects only.
    const target = await startTargetApi({ failureRate: 0.03, rateLimitRate: 0.01, latencyMs: [5, 40] });
    onTestFinished(() => target.close());
    const metricsPort = 20_000 + Math.floor(Math.random() * 10_000);
    const [first] = [
      spawnWorker(ns, `${mode}-worker-1`, { DURABATCH_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` }),
      spawnWorker(ns, `${mode}-worker-2`),
    ];
    const csv = await writeCsv(shared, `${mode}.csv`, patientRows(items));
    const batchId = `cluster-${mode}-${Date.now()}`;
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
        '40',
        '--max-attempts',
        '30',
        '--heartbeat-timeout',
        '5s',
        ...MODE_FLAGS[mode],
      ],
      { env: envFor(ns), cwd: shared },
    );
    expect(start.code, start.stderr).toBe(0);

    const { connection, client: c } = await client(ns);
    const progress = async () =>
      c.workflow
        .getHandle(batchId)
        .query<BatchProgress>('progress')
        .catch(() => undefined);
    const finished = (p?: BatchProgress) => (p ? p.succeeded + p.failed + p.skipped + p.cancelled : 0);
    const until = async (n: number) => {
      for (let i = 0; i < 2_400; i++) {
        const p = await progress();
        if (finished(p) >= n || (p && p.status !== 'running')) return p;
        await sleep(250);
      }
      throw new Error(`batch ${batchId} did not reach ${n} finished items`);
    };
    const log: string[] = [];

    // The worker's Prometheus endpoint serves the SDK's metrics while it works.
    const at0 = await until(Math.floor(items / 10));
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/temporal_/);

    const at1 = await until(Math.floor(items / 4));
    first.child.kill('SIGKILL');
    await first.exited;
    log.push(
      `kill -9 worker-1 (pid ${first.child.pid}) at ${finished(at1)} finished (first check at ${finished(at0)})`,
    );
    spawnWorker(ns, `${mode}-worker-3`);

    const at2 = await until(Math.floor(items / 2));
    // A killed process's CPU is gone with it: read the server's just before.
    const killedServerCpu = await cpuSeconds(cluster.serverPid());
    const pid = await cluster.killServer();
    log.push(`kill -9 temporal server (pid ${pid}) at ${finished(at2)} finished`);
    await sleep(2_000);
    await cluster.startServer();
    log.push(`temporal server restarted (pid ${cluster.serverPid()}) on the same database`);

    const final = (await c.workflow.getHandle(batchId).result()) as BatchProgress;
    const after = await readMeters(cluster);
    expect(final).toMatchObject({ status: 'completed', total: items, succeeded: items, failed: 0 });
    // The kills hit the batch while it ran, not after it.
    expect(finished(at2)).toBeLessThan(items);

    const verify = await runCli(['verify', batchId, '--effects', `${target.url}/_received`], {
      env: envFor(ns),
      cwd: shared,
      timeoutMs: 300_000,
    });
    log.push(verify.stdout.trim());
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(path.join(ARTIFACTS, `verify-${mode}-${items}.txt`), log.join('\n') + '\n');
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(target.stats().effects).toBe(items);

    const history = await batchHistory(c, batchId);
    timings[mode] = costBetween(before, after, items, history, killedServerCpu);
    await checks?.(batchId);
    await connection.close();
  };

  // Runner mode first, then page mode, then per-item: each batch's database growth is read on a
  // database whose earlier batches left little for autovacuum to truncate meanwhile (a per-item
  // batch's churn, truncated during a later batch, made it shrink).
  it(`runner mode (--items-per-child 1000), ${PAGED_ITEMS} items, through the same kills: verify --effects OK`, async () => {
    await runThroughKills('runner', PAGED_ITEMS);
  });

  it(`page mode (--items-per-child 100), ${PAGED_ITEMS} items, through the same kills: verify --effects OK`, async () => {
    await runThroughKills('page', PAGED_ITEMS);
  });

  it(`per-item mode, two workers, ${ITEMS} items, kill -9 of a worker and of the server: verify --effects OK`, async () => {
    await runThroughKills('item', ITEMS, async (batchId) => {
      // The batch is visible through the UI server (its HTTP API is what the Web UI reads).
      const query = encodeURIComponent(`BatchId = "${batchId}" AND WorkflowType = "batchWorkflow"`);
      const res = await fetch(`${cluster.uiUrl}/api/v1/namespaces/durabatch/workflows?query=${query}`);
      expect(res.ok).toBe(true);
      const body = (await res.json()) as { executions?: { execution?: { workflowId?: string } }[] };
      expect(body.executions?.map((e) => e.execution?.workflowId)).toContain(batchId);

      // One screenshot of the batch in the Web UI served by the UI server, for docs/deployment.md.
      if (chromiumInstalled()) {
        const browser = await launchChromium();
        try {
          const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
          const all = encodeURIComponent(`BatchId = "${batchId}"`); // the batch and its items
          await page.goto(`${cluster.uiUrl}/namespaces/durabatch/workflows?query=${all}`);
          await page.getByText(batchId, { exact: true }).first().waitFor({ timeout: 60_000 });
          await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-cluster-batch.png') });
        } finally {
          await browser.close();
        }
      }
    });
  });

  it('SIGTERM drains a worker: it takes no new work, finishes what it runs, and exits 0', async () => {
    const ns = 'durabatch';
    await stopWorkers();
    const slowTarget = await startTargetApi({ latencyMs: [3_000, 3_000] });
    try {
      const w = spawnWorker(ns, 'drain-worker', { DURABATCH_STOP_GRACE_SECONDS: '20' });
      const csv = await writeCsv(shared, 'slow.csv', patientRows(10));
      const batchId = `drain-${Date.now()}`;
      const start = await runCli(
        [
          'start',
          csv,
          '--url',
          `${slowTarget.url}/patients`,
          '--id-column',
          'id',
          '--batch-id',
          batchId,
          '--concurrency',
          '5',
        ],
        { env: envFor(ns), cwd: shared },
      );
      expect(start.code, start.stderr).toBe(0);
      // Wait until the target holds requests in flight, then ask the worker to stop.
      for (let i = 0; i < 240 && slowTarget.stats().inFlight === 0; i++) await sleep(100);
      const inFlight = slowTarget.stats().inFlight;
      expect(inFlight).toBeGreaterThan(0);
      const t = Date.now();
      w.child.kill('SIGTERM');
      const exit = await w.exited;
      const drainMs = Date.now() - t;
      timings.drainMs = drainMs;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(drainMs).toBeLessThan(30_000);
      expect(await readFile(w.logFile, 'utf8')).toMatch(/worker draining/);
      // The requests in flight at SIGTERM completed (none was cut off) and no new item started.
      const stats = slowTarget.stats();
      expect(stats.abandoned).toBe(0);
      expect(stats.effects).toBeGreaterThanOrEqual(inFlight);
      expect(stats.effects).toBeLessThan(10);
      // A new worker finishes the batch.
      spawnWorker(ns, 'drain-worker-2');
      const { connection, client: c } = await client(ns);
      const final = (await c.workflow.getHandle(batchId).result()) as BatchProgress;
      expect(final).toMatchObject({ status: 'completed', succeeded: 10 });
      expect(slowTarget.stats().effects).toBe(10);
      await connection.close();
    } finally {
      await slowTarget.close();
    }
  });
});

// The headline durability test: a 2,000-item batch on a dev server of its own while real worker
// processes are killed with SIGKILL again and again and the Temporal server itself is killed and
// started again on the same database. The invariant checker then compares the report with what the
// target really received: nothing lost, nothing duplicated, every count exact. Run once with one
// child workflow per item, once in page mode (100 items per child), where an item finished inside
// a page that is not finished must never run again, and once in runner mode, where items run inside
// a runner activity that is killed with its worker: only the items in flight then may be sent again.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { BatchClient } from '../../src/client/batch-client';
import { Config } from '../../src/config/schema';
import { formatVerifyReport, verifyBatch } from '../../src/verify/verify';
import type { BatchProgress } from '../../workflows/types';
import { patientRows, writeCsv } from '../helpers/files';
import { startOwnServer, type OwnServer } from '../helpers/faults';
import { replayWorkflows } from '../helpers/replay';
import { spawnWorkerProcess, type WorkerProcess } from '../helpers/worker-process';
import { allSucceeded } from '../helpers/engine';
import { stallReport } from '../helpers/stall-report';

const ITEMS = 2_000;
const WORKER_KILLS = 6;

const MODES = [
  { name: 'one child per item', slug: 'per-item', settings: {}, replayTypes: ['batchWorkflow'] },
  {
    name: 'page mode',
    slug: 'page',
    settings: { itemsPerChild: 100 },
    replayTypes: ['batchWorkflow', 'pageWorkflow'],
  },
  {
    name: 'runner mode',
    slug: 'runner',
    settings: { itemsPerChild: 100, itemExecution: 'runner' as const },
    replayTypes: ['batchWorkflow', 'pageWorkflow'],
  },
];

describe.each(MODES)('durability ($name): worker and server killed mid-batch', (mode) => {
  let dir: string;
  let server: OwnServer;
  let target: TargetApi;
  let connection: Connection;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(inject('tmpRoot'), 'faults-kill-'));
    [server, target] = await Promise.all([
      startOwnServer(dir),
      startTargetApi({ failureRate: 0.05, rateLimitRate: 0.02, latencyMs: [20, 120] }),
    ]);
    connection = await Connection.connect({ address: server.address });
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await connection?.close();
    await server?.stop();
    await target?.close();
  });

  it(`completes ${ITEMS} items exactly once through ${WORKER_KILLS} worker kills and a server kill`, async () => {
    const client = new Client({ connection, namespace: 'default' });
    const taskQueue = `faults-kill-${mode.slug}-${Date.now()}`;
    const batchId = `faults-kill-${mode.slug}-${Date.now()}`;
    const home = path.join(dir, 'home');
    await mkdir(home, { recursive: true });
    const batches = new BatchClient(client, { namespace: 'default', taskQueue, home, webUiBase: null });
    const csv = await writeCsv(dir, 'items.csv', patientRows(ITEMS));
    const config = Config.parse({
      batchId,
      taskQueue,
      home,
      idColumn: 'id',
      outputDir: path.join(dir, 'output'),
      http: { url: `${target.url}/patients` },
      concurrency: 40,
      maxAttempts: 30,
      initialIntervalMs: 200,
      maxIntervalMs: 2_000,
      // A killed worker's items are retried elsewhere after 5 s without a heartbeat.
      heartbeatTimeoutMs: 5_000,
      ...mode.settings,
    });

    const spawn = () => {
      const w = spawnWorkerProcess({
        taskQueue,
        address: server.address,
        logFile: path.join(dir, `worker-${workers.length + 1}.log`),
      });
      workers.push(w);
      return w;
    };
    let live = [spawn(), spawn()];
    await batches.start(csv, config);

    const progress = async (): Promise<BatchProgress | undefined> =>
      batches.progress(batchId).catch(() => undefined); // the server may be down right now
    const finished = (p?: BatchProgress) => (p ? p.succeeded + p.failed + p.skipped + p.cancelled : 0);
    const waitUntilFinished = async (n: number) => {
      for (let i = 0; i < 1200; i++) {
        const p = await progress();
        if (finished(p) >= n || (p && p.status !== 'running')) return p;
        await sleep(250);
      }
      throw await stalled(`batch did not reach ${n} finished items in 5 minutes`);
    };

    const started = Date.now();
    const log: string[] = [];
    const note = (line: string) => log.push(`[${Math.round((Date.now() - started) / 1000)} s] ${line}`);
    /** Fails with what the batch waits on, rather than reaching the test's timeout silently. */
    const stalled = async (what: string) =>
      new Error([`${what}; so far:`, ...log, await stallReport(client, batchId)].join('\n'));
    const step = Math.floor(ITEMS / (WORKER_KILLS + 2));
    for (let k = 1; k <= WORKER_KILLS; k++) {
      const at = await waitUntilFinished(k * step);
      // Kill one of the two workers (alternating), without warning, while items are in flight.
      const victim = live[k % 2]!;
      await victim.kill();
      note(`kill -9 worker pid ${victim.pid} at ${finished(at)} finished, ${at?.running ?? '?'} running`);
      if (k === Math.ceil(WORKER_KILLS / 2)) {
        const pid = await server.kill();
        note(`kill -9 temporal server pid ${pid} at ${finished(at)} finished`);
        await sleep(2_000);
        await server.restart();
        note(`temporal server restarted (pid ${server.current.pid}) on the same database`);
      }
      // A worker may also have died on its own while the server was down: replace what is gone.
      live = live.map((w) => (w === victim || isExited(w) ? spawn() : w));
    }

    const handle = client.workflow.getHandle(batchId);
    const deadline = new AbortController();
    const result = handle.result();
    void result.catch(() => undefined); // still pending when a stalled run closes the connection
    const final = (await Promise.race([
      result,
      sleep(480_000, undefined, { signal: deadline.signal }).then(async () => {
        throw await stalled('batch did not end within 8 minutes of the last kill');
      }),
    ]).finally(() => deadline.abort())) as BatchProgress;
    note('batch ended');
    expect(final).toMatchObject(allSucceeded(ITEMS));

    const report = await verifyBatch(batches, batchId, { effects: target.received() });
    const text = [...log, formatVerifyReport(report)].join('\n');
    await mkdir('test-artifacts/faults', { recursive: true });
    await writeFile(`test-artifacts/faults/verify-2000-${mode.slug}.txt`, text + '\n');
    console.log(text);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.effects).toMatchObject({ total: ITEMS, duplicated: [], missing: [], unexpected: [] });
    expect(target.stats().effects).toBe(ITEMS);
    expect(log.filter((l) => l.includes('] kill -9 worker'))).toHaveLength(WORKER_KILLS);
    expect(log.filter((l) => l.includes('] kill -9 temporal'))).toHaveLength(1);

    // The parent's histories, across every run and the crashes, replay deterministically.
    const types = mode.replayTypes.map((t) => `WorkflowType = "${t}"`).join(' OR ');
    const query = `BatchId = "${batchId}" AND (${types})`;
    expect(await replayWorkflows(client, query)).toBeGreaterThanOrEqual(1);
  }, 900_000);
});

function isExited(w: WorkerProcess): boolean {
  return w.child.exitCode !== null || w.child.signalCode !== null;
}

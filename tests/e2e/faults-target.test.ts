// Faults outside durabatch: a target that fails, hangs, rate-limits in bursts and disappears for 20 s;
// and two worker processes sharing a batch when one of them is killed. Each batch must complete with
// retries, no item failed by a transient fault within its retry budget, and the invariant checker
// must find every effect exactly once.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { formatVerifyReport, verifyBatch } from '../../src/verify/verify';
import { createTestContext, type TestContext } from '../helpers/context';
import { liveProgress, waitFor, finalProgress, allSucceeded } from '../helpers/engine';
import { patientRows, writeCsv } from '../helpers/files';
import { spawnWorkerProcess, waitForPollers, type WorkerProcess } from '../helpers/worker-process';

async function saveReport(name: string, text: string): Promise<void> {
  await mkdir('test-artifacts/faults', { recursive: true });
  await writeFile(`test-artifacts/faults/${name}.txt`, text + '\n');
}

describe('durability: a faulty target, and a worker lost among two', () => {
  let ctx: TestContext;
  const targets: TargetApi[] = [];
  const procs: WorkerProcess[] = [];
  beforeAll(async () => {
    ctx = await createTestContext('faults-target');
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await ctx?.close();
    await Promise.all(targets.map((t) => t.close()));
  });

  it('completes through 30% 503s, hangs past the timeout, 429 bursts and a 20 s outage', async () => {
    const target = await startTargetApi({
      failureRate: 0.3,
      rateLimitRate: 0,
      latencyMs: [5, 40],
      // 5% of answers come 5 s late, past the 1.5 s timeout: the effect happened, the retry must not repeat it.
      hangRate: 0.05,
      hangMs: 5_000,
      rateLimitBursts: { everyMs: 6_000, lengthMs: 1_500 },
      retryAfterSeconds: 1,
    });
    targets.push(target);
    await ctx.startWorker();
    const items = 300;
    const batchId = `faulty-target-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, patientRows(items));
    const started = await ctx.batches.start(
      csv,
      ctx.config({
        batchId,
        idColumn: 'id',
        concurrency: 20,
        http: { url: `${target.url}/patients`, timeoutMs: 1_500 },
        // The retry budget covers the 20 s outage with room to spare (about 60 s of attempts).
        maxAttempts: 40,
        initialIntervalMs: 200,
        maxIntervalMs: 2_000,
      }),
    );

    await waitFor(
      'a quarter of the items',
      async () => (await liveProgress(started.handle)).succeeded >= items / 4,
      120_000,
      200,
    );
    const outageAt = Date.now();
    await target.outage(20_000);
    const outageMs = Date.now() - outageAt;

    const final = await finalProgress(started.handle);
    expect(final).toMatchObject(allSucceeded(items));
    const report = await verifyBatch(ctx.batches, batchId, { effects: target.received() });
    const stats = target.stats();
    const text = `${formatVerifyReport(report)}\n  target: ${JSON.stringify(stats)}; outage ${outageMs} ms`;
    await saveReport('faulty-target', text);
    console.log(text);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.effects).toMatchObject({ total: items, duplicated: [], missing: [] });
    // Every kind of fault really happened, and retries went through them.
    expect(outageMs).toBeGreaterThanOrEqual(20_000);
    expect(stats.byStatus['503']).toBeGreaterThan(items * 0.2);
    expect(stats.byStatus['429']).toBeGreaterThan(0);
    expect(stats.hung).toBeGreaterThan(0);
    // A hung answer's retry was answered from the target's idempotency record, not performed again.
    expect(target.received().filter((r) => r.effects === 1 && r.attempts > 1).length).toBeGreaterThan(0);
    expect(stats.effects).toBe(items);
  }, 300_000);

  it('finishes a batch with the surviving worker when one of two is killed', async () => {
    const target = await startTargetApi({ failureRate: 0, rateLimitRate: 0, latencyMs: [40, 120] });
    targets.push(target);
    const taskQueue = `${ctx.taskQueue}-two`;
    const spawn = (n: number) =>
      spawnWorkerProcess({ taskQueue, logFile: path.join(ctx.dir, `worker-${n}.log`) });
    const [a, b] = [spawn(1), spawn(2)];
    procs.push(a, b);
    await waitForPollers(ctx.client, taskQueue, 2);
    const items = 300;
    const batchId = `two-workers-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, patientRows(items));
    const started = await ctx.batches.start(
      csv,
      ctx.config({
        batchId,
        taskQueue,
        idColumn: 'id',
        concurrency: 20,
        http: { url: `${target.url}/patients` },
        heartbeatTimeoutMs: 3_000,
      }),
    );
    // Both processes really share the work before one dies (each logs the items it completed).
    const didWork = async (w: WorkerProcess) =>
      (await readFile(w.logFile, 'utf8')).includes('step succeeded');
    await waitFor(
      'both workers at work, a third done',
      async () =>
        (await didWork(a)) &&
        (await didWork(b)) &&
        (await liveProgress(started.handle)).succeeded >= items / 3,
      180_000,
      200,
    );
    await a.kill();
    expect((await a.exited).signal).toBe('SIGKILL');
    const final = await finalProgress(started.handle);
    expect(final).toMatchObject(allSucceeded(items));
    // Still alive: it did the rest on its own.
    expect(b.child.exitCode).toBeNull();
    const report = await verifyBatch(ctx.batches, batchId, { effects: target.received() });
    await saveReport('two-workers', formatVerifyReport(report));
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(target.stats().effects).toBe(items);
  }, 300_000);
});

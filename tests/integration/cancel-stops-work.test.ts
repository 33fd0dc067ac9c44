// Cancel means stopped: a cancelled item's work ends (its process group, its HTTP request, its
// module function), its slot is freed only then, so the concurrency limit holds at the target even
// while items are cancelled; an item workflow terminated behind the batch's back is noticed.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema';
import { findTemporalCli } from '../../src/server/provision';
import { createTestContext, type TestContext } from '../helpers/context';
import { batchEnd, quietTarget, readItems, waitFor } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { alive, maxOverlap, probeRuns, writeProbe } from '../helpers/probe';
import { replayWorkflows } from '../helpers/replay';

const execFileAsync = promisify(execFile);

describe('cancelling a running item stops its work', () => {
  let ctx: TestContext;
  const batchIds: string[] = [];

  /** Starts a batch of `rows` keyed by their `id` column; its id is kept for the replay check. */
  async function start(name: string, rows: Record<string, string | number>[], overrides: ConfigInput) {
    const batchId = `${name}-${Date.now()}`;
    batchIds.push(batchId);
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, rows);
    return {
      batchId,
      started: await ctx.batches.start(csv, ctx.config({ batchId, idColumn: 'id', ...overrides })),
    };
  }

  beforeAll(async () => {
    ctx = await createTestContext('cancel-stops');
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it('command: the process group is gone within 3 s, the batch goes on, never more than N at once', async () => {
    const probe = await writeProbe(ctx.dir);
    const log = path.join(ctx.dir, 'probe.log');
    const rows = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => ({ id, seconds: id === 'b' ? 60 : 1.5 }));
    const { batchId, started } = await start('cancel-cmd', rows, {
      concurrency: 2,
      processor: 'command',
      command: { argv: [probe, log, '{id}', '{seconds}'], timeoutMs: 120_000 },
    });
    const b = await waitFor('item b running', async () => (await probeRuns(log)).get('b'), 30_000);
    const asked = Date.now();
    expect(await ctx.batches.cancelItem(batchId, 'b')).toEqual({ key: 'b', action: 'cancelling' });
    await waitFor('the cancelled probe gone', () => !alive(b.pid), 3_000, 20);
    const goneAfterMs = Date.now() - asked;

    const end = await batchEnd(started.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 6, succeeded: 5, cancelled: 1, failed: 0, running: 0 },
    });
    const runs = await probeRuns(log);
    expect([...runs.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(runs.get('b')!.end! - asked).toBeLessThan(3_000); // it stopped on SIGTERM, not at 60 s
    expect(maxOverlap([...runs.values()])).toBeLessThanOrEqual(2);
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    expect(items.get('b')).toMatchObject({ status: 'cancelled', errorType: 'Cancelled' });
    expect(goneAfterMs).toBeLessThan(3_000);
  });

  it('http: the request is aborted (the target sees the connection close) and takes no effect', async () => {
    const target = await quietTarget();
    try {
      const rows = ['h1', 'h2', 'h3', 'h4'].map((id) => ({ id, delayMs: id === 'h2' ? 60_000 : 300 }));
      const { batchId, started } = await start('cancel-http', rows, {
        concurrency: 2,
        http: { url: `${target.url}/api/items{?delayMs}`, timeoutMs: 120_000 },
      });
      const key = `${batchId}:h2`;
      // The target records a request once its latency is over: until then h2 is only "in flight".
      await waitFor(
        'the others done, h2 held open at the target',
        async () => (await ctx.batches.progress(batchId)).succeeded === 3 && target.stats().inFlight === 1,
      );
      const asked = Date.now();
      await ctx.batches.cancelItem(batchId, 'h2');
      await waitFor('the target to see h2 hang up', () => target.stats().abandoned === 1, 3_000, 20);
      expect(target.stats().lastAbandonedAt! - asked).toBeLessThan(3_000);

      const end = await batchEnd(started.handle);
      expect(end).toMatchObject({
        kind: 'returned',
        progress: { status: 'completed', total: 4, succeeded: 3, cancelled: 1, failed: 0 },
      });
      expect(target.received().map((r) => r.idempotencyKey)).not.toContain(key);
      expect(target.stats()).toMatchObject({ effects: 3, abandoned: 1, maxInFlight: 2 });
    } finally {
      await target.close();
    }
  });

  it('http: an item waiting between retries is cancelled at once; the retry never fires', async () => {
    const target = await quietTarget();
    try {
      const rows = [
        { id: 'r1', delayMs: 0, failAttempts: 1_000 },
        { id: 'r2', delayMs: 200, failAttempts: 0 },
      ];
      const { batchId, started } = await start('cancel-backoff', rows, {
        maxAttempts: 10,
        initialIntervalMs: 4_000,
        maxIntervalMs: 10_000,
        http: { url: `${target.url}/api/items{?delayMs,failAttempts}` },
      });
      const key = `${batchId}:r1`;
      await waitFor('r1 failed once (503), r2 done', async () => {
        const r1 = target.received().find((r) => r.idempotencyKey === key);
        return r1?.attempts === 1 && (await ctx.batches.progress(batchId)).succeeded === 1;
      });
      await ctx.batches.cancelItem(batchId, 'r1');
      const end = await batchEnd(started.handle);
      expect(end).toMatchObject({
        kind: 'returned',
        progress: { status: 'completed', total: 2, succeeded: 1, cancelled: 1, failed: 0 },
      });
      // Past the moment the retry was due: it never came.
      await new Promise((resolve) => setTimeout(resolve, 4_500));
      expect(target.received().find((r) => r.idempotencyKey === key)).toMatchObject({
        attempts: 1,
        effects: 0,
      });
    } finally {
      await target.close();
    }
  });

  it('module: one that honours ctx.signal stops, one that ignores it is abandoned after the grace', async () => {
    const stoppedFile = path.join(ctx.dir, 'module-stopped.txt');
    const mod = path.join(ctx.dir, 'slow-module.mjs');
    await writeFile(
      mod,
      `import { appendFile } from 'node:fs/promises';
export default async function process(item, ctx) {
  if (item.data.mode === 'quick') return { ok: true };
  await new Promise((resolve) => {
    if (item.data.mode === 'honours') ctx.signal.addEventListener('abort', resolve);
  });
  await appendFile(${JSON.stringify(stoppedFile)}, item.key + '\\n');
  throw ctx.signal.reason;
}
`,
    );
    const rows = [
      { id: 'm1', mode: 'honours' },
      { id: 'm2', mode: 'ignores' },
      { id: 'm3', mode: 'quick' },
    ];
    const { batchId, started } = await start('cancel-module', rows, {
      concurrency: 3,
      processor: 'module',
      module: { path: mod, timeoutMs: 120_000 },
      stopGraceMs: 1_500,
    });
    await waitFor('m3 done, m1 and m2 running', async () => {
      const p = await ctx.batches.progress(batchId);
      return p.succeeded === 1 && p.running === 2;
    });
    await ctx.batches.cancelItem(batchId, 'm1');
    await ctx.batches.cancelItem(batchId, 'm2');
    const end = await batchEnd(started.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 3, succeeded: 1, cancelled: 2, failed: 0 },
    });
    // m1 saw its signal and stopped; m2 never did, and was abandoned (recorded cancelled) anyway.
    expect((await readFile(stoppedFile, 'utf8')).split('\n').filter(Boolean)).toEqual(['m1']);
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    expect(items.get('m1')).toMatchObject({ status: 'cancelled' });
    expect(items.get('m2')).toMatchObject({ status: 'cancelled' });
  });

  it('an item workflow terminated with the temporal CLI is recorded failed within 90 s', async () => {
    const temporal = await findTemporalCli({ home: inject('toolsHome'), allowInstall: false });
    const target = await quietTarget();
    try {
      const rows = ['t1', 't2', 't3'].map((id) => ({ id, delayMs: id === 't2' ? 600_000 : 200 }));
      const { batchId, started } = await start('terminated', rows, {
        concurrency: 3,
        http: { url: `${target.url}/api/items{?delayMs}` },
      });
      await waitFor('t1 and t3 done', async () => (await ctx.batches.progress(batchId)).succeeded === 2);
      await execFileAsync(temporal.path, [
        'workflow',
        'terminate',
        '--workflow-id',
        `${batchId}/t2`,
        '--reason',
        'terminated by a test',
        '--address',
        ctx.address,
      ]);
      const terminatedAt = Date.now();
      const end = await batchEnd(started.handle);
      expect(Date.now() - terminatedAt).toBeLessThan(90_000);
      expect(end).toMatchObject({
        kind: 'returned',
        progress: { status: 'partial_failure', total: 3, succeeded: 2, failed: 1, cancelled: 0, running: 0 },
      });
      const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
      expect(items.get('t2')).toMatchObject({ status: 'failed', errorType: 'ItemWorkflowClosed' });
    } finally {
      await target.close();
    }
  }, 180_000);

  it('replays every history of the batches above without nondeterminism', async () => {
    const query = batchIds.map((id) => `BatchId = "${id}"`).join(' OR ');
    const replayed = await replayWorkflows(ctx.client, query);
    expect(replayed).toBeGreaterThanOrEqual(batchIds.length);
  });
});

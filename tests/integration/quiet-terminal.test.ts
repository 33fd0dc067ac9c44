// What reaches the person at the terminal: transient retries are a count in the progress line, not
// log records; and `npm start` under a real pseudo-terminal shows no log record at all.
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { progressLine } from '../../src/cli/progress-view';
import { RetryTracker } from '../../src/worker/retry-tracker';
import { createTestContext, type TestContext } from '../helpers/context';
import { finalProgress, liveProgress, waitFor } from '../helpers/engine';
import { patientRows, readJsonLines, writeCsv } from '../helpers/files';
import type { ItemOutcome } from '../../workflows/types';

describe('a quiet terminal', () => {
  let ctx: TestContext;
  let target: TargetApi;
  const retries = new RetryTracker();

  beforeAll(async () => {
    ctx = await createTestContext('quiet');
    // Every key fails its first attempt with 503, its second succeeds.
    target = await startTargetApi({
      failureRate: 0,
      rateLimitRate: 0,
      failFirstAttempts: 1,
      latencyMs: [1, 5],
    });
    await ctx.startWorker({ retryTracker: retries });
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('counts items waiting for a retry, and none once they succeeded', async () => {
    const csv = await writeCsv(ctx.dir, 'patients.csv', patientRows(10));
    // A 3 s back-off holds every item between its failed first attempt and its retry.
    const config = ctx.config({
      batchId: `quiet-retrying-${Date.now()}`,
      idColumn: 'id',
      concurrency: 10,
      initialIntervalMs: 3_000,
      maxIntervalMs: 3_000,
      http: { url: `${target.url}/patients` },
    });
    const started = await ctx.batches.start(csv, config);
    await waitFor(
      'all 10 items waiting for their retry',
      () => retries.count(started.batchId) === 10,
      30_000,
    );
    const during = await liveProgress(started.handle);
    expect(progressLine(during, retries.count(started.batchId))).toMatch(
      / running 10 retrying 10 pending 0 /,
    );
    expect(retries.count('another-batch')).toBe(0);

    const final = await finalProgress(started.handle);
    expect(final).toMatchObject({ status: 'completed', succeeded: 10, failed: 0 });
    expect(retries.count(started.batchId)).toBe(0);
    expect(progressLine(final, retries.count(started.batchId))).not.toContain('retrying');
    expect(target.received().every((r) => r.attempts === 2 && r.effects === 1)).toBe(true);
  });

  it('forgets an item whose last attempt failed', async () => {
    // Five 503s per key against two attempts: the retry is the last one, and it fails too.
    const failing = await startTargetApi({ failureRate: 0, rateLimitRate: 0, failFirstAttempts: 5 });
    try {
      const csv = await writeCsv(ctx.dir, 'failing.csv', patientRows(3));
      const config = ctx.config({
        batchId: `quiet-last-attempt-${Date.now()}`,
        idColumn: 'id',
        maxAttempts: 2,
        http: { url: `${failing.url}/patients` },
      });
      const started = await ctx.batches.start(csv, config);
      const final = await finalProgress(started.handle);
      expect(final).toMatchObject({ status: 'failed', failed: 3, succeeded: 0 });
      const items = await readJsonLines<ItemOutcome>(path.join(final.outputDir, 'results', 'items.jsonl'));
      expect(items.map((i) => [i.attempts, i.httpStatus])).toEqual([
        [2, 503],
        [2, 503],
        [2, 503],
      ]);
      expect(retries.count(started.batchId)).toBe(0);
    } finally {
      await failing.close();
    }
  });

  it('`npm start` under a pseudo-terminal shows progress and the summary, and no log record', async () => {
    const home = await mkdtemp(path.join(inject('tmpRoot'), 'npm-start-'));
    const screen = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
      // `script` gives the command a real terminal (isTTY), as a user's shell would.
      const child = spawn('script', ['-qefc', 'npm start', '/dev/null'], {
        env: {
          ...process.env,
          CI: '',
          TEMPORAL_ADDRESS: inject('temporalAddress'),
          DURABATCH_HOME: home,
          DURABATCH_LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, text }));
    });
    // Terminal control sequences (ESC [ ... letter) are not text.
    const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g');
    const lines = screen.text.split(/\r|\n/).map((l) => l.replace(ansi, '').trim());
    expect(screen.code, screen.text.slice(-2000)).toBe(0);
    expect(lines.some((l) => /\[#{24}\] 100\.0% completed ok 300 failed 0/.test(l))).toBe(true);
    expect(lines).toContain('total 300 = succeeded 300 + failed 0 + skipped 0 + cancelled 0');
    // A pino record: JSON with a level, or pino-pretty's "[time] LEVEL (pid):" prefix.
    const records = lines.filter(
      (l) => /^\{.*"level"/.test(l) || /\b(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\b.*\(\d+\)/.test(l),
    );
    expect(records).toEqual([]);
  });
});

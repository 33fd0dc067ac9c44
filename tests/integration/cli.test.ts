// The `durabatch` command as a user runs it: a real process against the test's dev server.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import type { BatchProgress } from '../../workflows/types';
import { runCli, type CliResult } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import { patientRows, writeCsv } from '../helpers/files';
import { batchLogLines } from '../helpers/log-lines';

const ui = inject('temporalUiUrl') ?? 'http://127.0.0.1:1';
const batchUrl = (id: string) => `${ui}/namespaces/default/workflows/${encodeURIComponent(id)}`;
const itemsUrl = (id: string) =>
  `${ui}/namespaces/default/workflows?query=${encodeURIComponent(`BatchId = "${id}"`)}`;

function durabatch(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(args, { env: { DURABATCH_HOME: inject('toolsHome'), ...env } });
}

describe('durabatch CLI', () => {
  let ctx: TestContext;
  let target: TargetApi;
  beforeAll(async () => {
    ctx = await createTestContext('cli');
    target = await startTargetApi({
      failureRate: 0.1,
      rateLimitRate: 0.05,
      retryAfterSeconds: 1,
      latencyMs: [1, 10],
    });
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('runs a batch end to end on an already running server, with counts that add up', async () => {
    const csv = await writeCsv(ctx.dir, 'cli.csv', patientRows(25));
    const out = path.join(ctx.dir, 'cli-out');
    const batchId = `cli-${Date.now()}`;
    const res = await durabatch(
      [
        'run',
        csv,
        '--url',
        `${target.url}/patients`,
        '--id-column',
        'id',
        '--concurrency',
        '5',
        '--task-queue',
        `${ctx.taskQueue}-cli`,
        '--output-dir',
        out,
        '--batch-id',
        batchId,
        '--json',
      ],
      { TEMPORAL_ADDRESS: ctx.address, DURABATCH_WEB_UI_URL: ui },
    );
    expect(res.stderr).toContain(`Temporal server ${ctx.address}`);
    // Direct links to the batch and to its filtered item list.
    expect(res.stderr).toContain(`Web UI: ${batchUrl(batchId)}`);
    expect(res.stderr).toContain(`items:  ${itemsUrl(batchId)}`);
    expect(res.code).toBe(0);
    const final = JSON.parse(res.stdout) as BatchProgress;
    expect(final).toMatchObject({
      status: 'completed',
      total: 25,
      succeeded: 25,
      failed: 0,
      running: 0,
      pending: 0,
    });
    expect(res.stderr).toMatch(/total 25 = succeeded 25 \+ failed 0 \+ skipped 0 \+ cancelled 0/);
    const summary = await readFile(path.join(out, 'results', 'summary.txt'), 'utf8');
    expect(summary).toContain('25 total: 25 succeeded, 0 failed');
    const audit = (await readFile(path.join(out, 'audit', 'audit.jsonl'), 'utf8')).trim().split('\n');
    expect(JSON.parse(audit[0]!)).toMatchObject({ action: 'start', args: { total: 25 } });
    // The run's log opens and closes with the batch's lines, and has each item's line once: the
    // in-process worker logs to this very file, so the batch's copy is not written a second time.
    const log = await batchLogLines(out);
    expect(log.filter((l) => l.event).map((l) => [l.event, l.total, l.status])).toEqual([
      ['batch.start', 25, undefined],
      ['batch.end', 25, 'completed'],
    ]);
    const succeeded = log.filter((l) => l.msg === 'step succeeded').map((l) => l.itemKey);
    expect(succeeded).toHaveLength(25);
    expect(new Set(succeeded).size).toBe(25);
  });

  it('shows recent failures while following and exits 1 when nothing succeeded (failed)', async () => {
    const csv = await writeCsv(ctx.dir, 'fails.csv', patientRows(3));
    const res = await durabatch(
      [
        'run',
        csv,
        '--url',
        `${target.url}/nowhere/{id}`,
        '--id-column',
        'id',
        '--task-queue',
        `${ctx.taskQueue}-fails`,
        '--output-dir',
        path.join(ctx.dir, 'fails-out'),
      ],
      { TEMPORAL_ADDRESS: ctx.address },
    );
    expect(res.code).toBe(1);
    for (const k of ['K0001', 'K0002', 'K0003']) {
      expect(res.stderr).toContain(`failed ${k} after 1 attempt(s): PermanentTargetError`);
    }
    expect(res.stderr).toContain('total 3 = succeeded 0 + failed 3');
    expect(res.stderr).toMatch(/batch \S+ failed \(no item succeeded: 3 failed\)/);
  });

  it('rejects bad flags with exit code 2 and a message naming the flag', async () => {
    const csv = await writeCsv(ctx.dir, 'flags.csv', patientRows(2));
    const res = await durabatch(['run', csv, '--url', 'http://127.0.0.1:9/x', '--concurrency', '5000'], {
      TEMPORAL_ADDRESS: ctx.address,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/flag --concurrency: .*1000/);
    const noUrl = await durabatch(['run', csv], { TEMPORAL_ADDRESS: ctx.address });
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('the http processor needs a URL');
    expect(noUrl.stderr).toContain('--url');
    const missing = await durabatch(['run', path.join(ctx.dir, 'nope.csv'), '--url', 'http://x/'], {
      TEMPORAL_ADDRESS: ctx.address,
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read source .*nope\.csv: ENOENT/);
    const unknown = await durabatch(['run', csv, '--no-such-flag']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--no-such-flag'");
  });

  it('names an unreachable TEMPORAL_ADDRESS instead of starting another server', async () => {
    const csv = await writeCsv(ctx.dir, 'unreach.csv', patientRows(1));
    const res = await durabatch(['run', csv, '--url', 'http://127.0.0.1:9/x'], {
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('no Temporal server answers at 127.0.0.1:1');
  });

  it('starts a batch that a separate worker runs, then status and watch report it', async () => {
    await ctx.startWorker();
    const csv = await writeCsv(ctx.dir, 'start.csv', patientRows(12));
    const env = { TEMPORAL_ADDRESS: ctx.address, DURABATCH_WEB_UI_URL: ui };
    const started = await durabatch(
      [
        'start',
        csv,
        '--url',
        `${target.url}/patients`,
        '--id-column',
        'id',
        '--task-queue',
        ctx.taskQueue,
        '--output-dir',
        path.join(ctx.dir, 'start-out'),
        '--json',
      ],
      env,
    );
    expect(started.code).toBe(0);
    const startedJson = JSON.parse(started.stdout) as Record<string, unknown>;
    const { batchId, total } = startedJson as { batchId: string; total: number };
    expect(total).toBe(12);
    expect(startedJson).toMatchObject({ webUiUrl: batchUrl(batchId), itemsUrl: itemsUrl(batchId) });
    const watched = await durabatch(['watch', batchId, '--json'], env);
    expect(watched.code).toBe(0);
    expect(JSON.parse(watched.stdout)).toMatchObject({ batchId, status: 'completed', succeeded: 12 });
    const status = await durabatch(['status', batchId, '--json'], env);
    const p = JSON.parse(status.stdout) as BatchProgress;
    // The status fields docs/cli.md promises, all present.
    for (const field of [
      'batchId',
      'status',
      'total',
      'succeeded',
      'failed',
      'skipped',
      'cancelled',
      'running',
      'pending',
      'percent',
      'throughputPerMinute',
      'latencyMs',
      'errorRate',
      'etaSeconds',
      'cost',
      'startedAt',
      'endedAt',
      'outputDir',
      'webUiUrl',
    ]) {
      expect(p, field).toHaveProperty(field);
    }
    expect(p.succeeded + p.failed + p.skipped + p.cancelled + p.running + p.pending).toBe(p.total);
    const text = await durabatch(['status', batchId], env);
    expect(text.stdout).toContain(`Web UI: ${batchUrl(batchId)}`);
    expect(text.stdout).toContain(`items:  ${itemsUrl(batchId)}`);
  });

  it('lists the failures of a running batch in status --json', async () => {
    await ctx.startWorker();
    const csv = await writeCsv(ctx.dir, 'failing.csv', patientRows(4));
    const env = { TEMPORAL_ADDRESS: ctx.address };
    // /nowhere answers 404 (fails at once); one item every 2 s keeps the batch running meanwhile.
    const started = await durabatch(
      [
        'start',
        csv,
        '--url',
        `${target.url}/nowhere/{id}`,
        '--id-column',
        'id',
        '--concurrency',
        '1',
        '--rate',
        '0.5',
        '--task-queue',
        ctx.taskQueue,
        '--output-dir',
        path.join(ctx.dir, 'failing-out'),
      ],
      env,
    );
    expect(started.code).toBe(0);
    const batchId = started.stdout.trim();
    const rows = patientRows(4);
    let p: BatchProgress & { recentFailures: { key: string; errorType: string }[] };
    const deadline = Date.now() + 20_000;
    do {
      p = JSON.parse((await durabatch(['status', batchId, '--json'], env)).stdout) as typeof p;
    } while (p.failed === 0 && Date.now() < deadline);
    expect(p.status).toBe('running');
    expect(p.recentFailures.map((f) => [f.key, f.errorType])).toEqual(
      rows.slice(0, p.failed).map((r) => [r.id, 'PermanentTargetError']),
    );
    await durabatch(['watch', batchId], env);
    const ended = JSON.parse((await durabatch(['status', batchId, '--json'], env)).stdout) as typeof p;
    expect(ended).toMatchObject({ status: 'failed', failed: 4 });
    expect(ended.recentFailures.map((f) => f.key)).toEqual(rows.map((r) => r.id));
  });

  it('prints help with examples for run', async () => {
    const res = await durabatch(['run', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Examples:');
    expect(res.stdout).toContain('--max-failure-rate');
  });
});

// `durabatch run` ends, and says why it waits, when its outputs misbehave (a real dev server, the
// real CLI process): an XLSX source with hostile sheets the batch never read completes with its
// core report written and the sheets named; an output whose results folder is a file and whose log
// file is /dev/full (ENOSPC on every write, for real) pauses the batch with the error as its reason,
// keeps `run` alive, and completes once the folder is fixed and the batch resumed.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, appendFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import type { BatchProgress } from '../../workflows/types';
import { runCli, type CliResult } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import { patientRows, writeCsv } from '../helpers/files';
import { bombSheet, hostileWorkbook, rowsWithoutR } from '../helpers/hostile-xlsx';
import { spawnWorkerProcess } from '../helpers/worker-process';

let ctx: TestContext;
let target: TargetApi;

const env = () => ({ DURABATCH_HOME: ctx.home, TEMPORAL_ADDRESS: ctx.address });
const durabatch = (args: string[]): Promise<CliResult> =>
  runCli(args, { env: env(), cwd: ctx.dir, timeoutMs: 90_000 });

/** `durabatch run …` in the background, its output collected as it comes. */
function spawnRun(args: string[]): {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [path.resolve('bin/durabatch.js'), 'run', ...args], {
    env: { ...process.env, CI: 'true', ...env() },
    cwd: ctx.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

async function statusUntil(batchId: string, done: (p: BatchProgress) => boolean): Promise<BatchProgress> {
  // Bounded in time, not in tries: under load each `status` process takes seconds.
  for (const until = Date.now() + 120_000; ;) {
    const res = await durabatch(['status', batchId, '--json']);
    if (res.code === 0) {
      const p = JSON.parse(res.stdout) as BatchProgress;
      if (done(p) || Date.now() > until) return p;
    } else if (Date.now() > until) throw new Error(res.stderr);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The batch's staged source folder, from its workflow input. */
async function stagedDirOf(handle: WorkflowHandle): Promise<string> {
  const history = await handle.fetchHistory();
  const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
  return (JSON.parse(Buffer.from(payload.data!).toString()) as { source: { dir: string } }).source.dir;
}

describe('run ends, and says why it waits', () => {
  beforeAll(async () => {
    ctx = await createTestContext('endings');
    target = await startTargetApi({ failureRate: 0, rateLimitRate: 0, latencyMs: [1, 3] });
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('completes an XLSX batch whose unread sheets are a zip bomb and rows without r, naming them', async () => {
    const source = path.join(ctx.dir, 'hostile.xlsx');
    await hostileWorkbook(source, 6, [
      { name: 'Bomb', xml: bombSheet(80 * 1024 * 1024) },
      { name: 'NoR', xml: rowsWithoutR(4) },
    ]);
    const out = path.join(ctx.dir, 'hostile-out');
    const batchId = `hostile-${Date.now().toString(36)}`;
    const res = await durabatch([
      'run',
      source,
      '--sheet',
      'Data',
      '--id-column',
      'id',
      '--url',
      `${target.url}/patients`,
      '--task-queue',
      `${ctx.taskQueue}-xlsx`,
      '--output-dir',
      out,
      '--batch-id',
      batchId,
    ]);
    expect(res.code, res.stderr).toBe(0);
    const results = path.join(out, 'results');
    expect(res.stderr).toContain(`batch ${batchId} completed`);
    expect(res.stderr).toContain(`  results in ${results} (summary.txt, results.csv, failed.csv)`);
    expect(res.stderr).toContain(
      '  results.xlsx left out sheet "Bomb": its XML is 80.0 MB, over the 64.0 MB a copied sheet may have',
    );
    expect(res.stderr).toMatch(/ {2}results\.xlsx left out sheet "NoR": \S/);
    for (const f of [
      'summary.json',
      'summary.txt',
      'results.csv',
      'failed.csv',
      'items.jsonl',
      'results.xlsx',
    ])
      await access(path.join(results, f));
    const summary = JSON.parse(await readFile(path.join(results, 'summary.json'), 'utf8')) as {
      status: string;
      succeeded: number;
      workbookSkippedSheets: { name: string }[];
    };
    expect(summary.status).toBe('completed');
    expect(summary.succeeded).toBe(6);
    expect(summary.workbookSkippedSheets.map((s) => s.name)).toEqual(['Bomb', 'NoR']);
    expect(await readFile(path.join(results, 'summary.txt'), 'utf8')).toContain(
      'workbook     sheet "Bomb" left out of results.xlsx: its XML is 80.0 MB',
    );
  }, 120_000);

  it('pauses on an unwritable results folder with the path and errno, survives a log on /dev/full, resumes', async () => {
    const csv = await writeCsv(ctx.dir, 'full.csv', patientRows(5));
    const out = path.join(ctx.dir, 'full-out');
    const batchId = `full-${Date.now().toString(36)}`;
    // results/ is a file (every write under it fails ENOTDIR), the log a device that is always full.
    await mkdir(path.join(out, 'logs'), { recursive: true });
    await writeFile(path.join(out, 'results'), 'not a folder\n');
    await symlink('/dev/full', path.join(out, 'logs', 'worker.jsonl'));
    const run = spawnRun([
      csv,
      '--id-column',
      'id',
      '--url',
      `${target.url}/patients`,
      '--task-queue',
      `${ctx.taskQueue}-full`,
      '--output-dir',
      out,
      '--batch-id',
      batchId,
    ]);
    try {
      const paused = await statusUntil(batchId, (p) => p.status === 'paused');
      const pages = path.join(out, 'results', 'pages');
      expect(paused).toMatchObject({ status: 'paused', succeeded: 5, running: 0, etaSeconds: 0 });
      expect(paused.statusReason).toBe(
        `cannot write result page 0: ENOTDIR (a folder on the path is a file) at ${pages}; ` +
          `free space or make the output directory writable, then \`durabatch resume ${batchId}\``,
      );
      // The run is alive and following, and said why it waits; the full log was reported, not fatal.
      await new Promise((r) => setTimeout(r, 1500));
      expect(run.child.exitCode).toBeNull();
      expect(run.stderr()).toContain(`paused: ${paused.statusReason}`);
      expect(run.stderr()).toContain(
        `durabatch: cannot write the log file ${path.join(out, 'logs', 'worker.jsonl')} (ENOSPC); its lines are dropped until it can be written again`,
      );

      await rm(path.join(out, 'results'));
      const resumed = await durabatch(['resume', batchId]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(await run.exited).toBe(0);
      expect(run.stderr()).toContain(`batch ${batchId} completed`);
      const summary = JSON.parse(await readFile(path.join(out, 'results', 'summary.json'), 'utf8')) as {
        succeeded: number;
        status: string;
      };
      expect(summary).toMatchObject({ status: 'completed', succeeded: 5 });
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGTERM');
    }
  }, 150_000);

  it('ends a batch whose report fails deterministically at once, and watch says the report is missing', async () => {
    await ctx.startWorker();
    const csv = await writeCsv(ctx.dir, 'noreport.csv', patientRows(3));
    const out = path.join(ctx.dir, 'noreport-out');
    const batchId = `noreport-${Date.now().toString(36)}`;
    // One item every 2 s: the source's only page is read at the start, the report reads it again.
    const started = await ctx.batches.start(
      csv,
      ctx.config({
        http: { url: `${target.url}/patients` },
        idColumn: 'id',
        batchId,
        outputDir: out,
        rate: 0.5,
      }),
    );
    // Once the source's page was read (an item started), damage the staged source: the report's
    // pass over it fails the same way on every attempt.
    for (const until = Date.now() + 30_000; Date.now() < until;) {
      const p = await ctx.batches.progress(batchId);
      if (p.running + p.succeeded > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await appendFile(path.join(await stagedDirOf(started.handle), 'items.jsonl'), '{"damaged": \n');
    const watch = await durabatch(['watch', batchId]);
    const results = path.join(out, 'results');
    expect(watch.code).toBe(1);
    expect(watch.stderr).toMatch(
      new RegExp(`batch ${batchId} completed \\(the report could not be written: [^\\n]*JSON[^\\n]*\\)\\n`),
    );
    expect(watch.stderr).toContain(
      `  the report was NOT written to ${results}: the report could not be written: `,
    );
    await expect(access(path.join(results, 'summary.json'))).rejects.toThrow(/ENOENT/);
    // Not retried: one attempt of writeReport, and the batch closed.
    const events = (await started.handle.fetchHistory()).events!;
    const reportTasks = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'writeReport',
    );
    expect(reportTasks).toHaveLength(1);
    const failed = events.filter((e) => e.activityTaskFailedEventAttributes);
    expect(failed.map((e) => e.activityTaskFailedEventAttributes!.retryState)).toEqual([
      temporal.api.enums.v1.RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE,
    ]);
    expect((await started.handle.describe()).status.name).toBe('COMPLETED');
  }, 120_000);

  it('says a batch whose workflow failed (a source read out of attempts) failed, with the cause', async () => {
    // Row counts differ between tests: staging is shared by content, and these tests damage it.
    const csv = await writeCsv(ctx.dir, 'badread.csv', patientRows(2));
    const taskQueue = `${ctx.taskQueue}-badread`;
    const batchId = `badread-${Date.now().toString(36)}`;
    // No worker yet: the staged source is damaged before the batch reads its first page.
    const started = await ctx.batches.start(
      csv,
      ctx.config({
        http: { url: `${target.url}/patients` },
        idColumn: 'id',
        batchId,
        taskQueue,
        outputDir: path.join(ctx.dir, 'badread-out'),
      }),
    );
    await appendFile(path.join(await stagedDirOf(started.handle), 'items.jsonl'), '{"damaged": \n');
    const worker = spawnWorkerProcess({ taskQueue, logFile: path.join(ctx.dir, 'badread-worker.log') });
    try {
      const watch = await durabatch(['watch', batchId, '--json']);
      expect(watch.code).toBe(1);
      const final = JSON.parse(watch.stdout) as BatchProgress;
      expect(final.status).toBe('failed');
      // Not retried (a SyntaxError is deterministic): the read's own error, named by its activity.
      expect(final.statusReason).toBe('the batch workflow failed: readPage: Unexpected end of JSON input');
      const status = await durabatch(['status', batchId, '--json']);
      expect(JSON.parse(status.stdout)).toMatchObject({ status: 'failed', statusReason: final.statusReason });
    } finally {
      await worker.kill();
    }
  }, 120_000);

  it('pauses a batch run by a separate worker whose results folder is unwritable; the worker stays up', async () => {
    const csv = await writeCsv(ctx.dir, 'sepfull.csv', patientRows(7));
    const out = path.join(ctx.dir, 'sepfull-out');
    const taskQueue = `${ctx.taskQueue}-sepfull`;
    const batchId = `sepfull-${Date.now().toString(36)}`;
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'results'), 'not a folder\n');
    const worker = spawnWorkerProcess({ taskQueue, logFile: path.join(ctx.dir, 'sepfull-worker.log') });
    try {
      const started = await durabatch([
        'start',
        csv,
        '--id-column',
        'id',
        '--url',
        `${target.url}/patients`,
        '--task-queue',
        taskQueue,
        '--output-dir',
        out,
        '--batch-id',
        batchId,
      ]);
      expect(started.code, started.stderr).toBe(0);
      const paused = await statusUntil(batchId, (p) => p.status === 'paused');
      expect(paused).toMatchObject({ status: 'paused', succeeded: 7, etaSeconds: 0 });
      expect(paused.statusReason).toBe(
        `cannot write result page 0: ENOTDIR (a folder on the path is a file) at ${path.join(out, 'results', 'pages')}; ` +
          `free space or make the output directory writable, then \`durabatch resume ${batchId}\``,
      );
      const text = await durabatch(['status', batchId]);
      expect(text.stdout).toContain(`batch ${batchId} paused (cannot write result page 0: ENOTDIR`);
      expect(worker.child.exitCode).toBeNull();
      // Paused, not retried for ever: one attempt of the page write, non-retryable.
      const events = (await ctx.client.workflow.getHandle(batchId).fetchHistory()).events!;
      const writes = events.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'writeResultsPage',
      );
      expect(writes).toHaveLength(1);
      await rm(path.join(out, 'results'));
      expect((await durabatch(['resume', batchId])).code).toBe(0);
      const done = await statusUntil(batchId, (p) => p.status === 'completed');
      expect(done).toMatchObject({ status: 'completed', succeeded: 7 });
    } finally {
      await worker.kill();
    }
  }, 300_000);
});

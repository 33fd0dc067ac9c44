// Each `npm run example:<name>` end to end, as a user runs it, on the test's dev server: the example's
// run.ts as a child process (which runs the real durabatch CLI), then its verdict and the files it
// produced, read back independently of the example's own check.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import ExcelJS from 'exceljs';
import { describe, expect, inject, it } from 'vitest';
import type { BatchProgress, FailureRecord } from '../../workflows/types';
import { runCli } from '../helpers/cli';
import { readJsonLines, zipEntries } from '../helpers/files';

const exec = promisify(execFile);

interface ExampleRun {
  code: number;
  stderr: string;
  /** The batch's output directory (DURABATCH_OUTPUT_DIR) and the example's work directory. */
  out: string;
  work: string;
  env: NodeJS.ProcessEnv;
  summary: BatchProgress & { recentFailures: FailureRecord[] };
}

let seq = 0;

/** `npm run example:<name>`, pointed at the test server with its own task queue and directories. */
async function runExample(name: string): Promise<ExampleRun> {
  const dir = await mkdtemp(path.join(inject('tmpRoot'), `example-${name}-`));
  const out = path.join(dir, 'output');
  const work = path.join(dir, 'work');
  const env = {
    ...process.env,
    CI: 'true',
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    DURABATCH_HOME: inject('toolsHome'),
    DURABATCH_TASK_QUEUE: `example-${name}-${process.pid}-${++seq}-${Date.now().toString(36)}`,
    DURABATCH_OUTPUT_DIR: out,
    // The batch service's batches (example:api) go to <out>/<batchId>.
    DURABATCH_API_OUTPUT_ROOT: out,
    EXAMPLE_WORK_DIR: work,
  };
  let code = 0;
  let stderr: string;
  try {
    ({ stderr } = await exec(process.execPath, ['--import', 'tsx', `examples/${name}/run.ts`], {
      env,
      timeout: 200_000,
    }));
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    code = typeof e.code === 'number' ? e.code : -1;
    stderr = e.stderr ?? String(err);
  }
  const summary = JSON.parse(
    await readFile(path.join(out, 'results', 'summary.json'), 'utf8').catch(() => '{}'),
  ) as ExampleRun['summary'];
  return { code, stderr, out, work, env, summary };
}

describe('examples', { timeout: 250_000 }, () => {
  it('ihe: registers each patient once and submits one document naming the registry id', async () => {
    const r = await runExample('ihe');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /ihe: target received \d+ requests \(.*\); 8 of 8 patients registered once, 8 documents each naming its patient's registry id; IHE_TOKEN in 0 of \d+ output files\nihe: OK/,
    );
    expect(r.summary).toMatchObject({ status: 'completed', total: 8, succeeded: 8, failed: 0 });
    const items = await readJsonLines<{ key: string; status: string }>(
      path.join(r.out, 'results', 'items.jsonl'),
    );
    expect(items.map((i) => i.key).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `QA-000${i + 1}`));
    expect(items.every((i) => i.status === 'succeeded')).toBe(true);
    // Both steps' latency: the pipeline really ran two transactions per patient.
    expect(Object.keys(r.summary.stepLatencyMs ?? {}).sort()).toEqual(['register', 'submit']);
  });

  it('documents: exactly the corrupt scan fails, and status --json lists it', async () => {
    const r = await runExample('documents');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /documents: 10 documents: 9 stored \(9 intact, once each\), 1 failed \(D0005 PermanentTargetError after (\d+) attempt\(s\); the service received (\d+) request\(s\) for D0005\); the service answered .*\ndocuments: OK/,
    );
    // A 503 (10% of requests) before the refusal makes it a second attempt: as many as the service saw.
    const [, attempts, received] =
      /PermanentTargetError after (\d+) attempt\(s\); the service received (\d+)/.exec(r.stderr)!;
    expect(Number(attempts)).toBe(Number(received));
    const status = await runCli(['status', r.summary.batchId, '--json'], { env: r.env });
    expect(status.code, status.stderr).toBe(0);
    const json = JSON.parse(status.stdout) as ExampleRun['summary'];
    expect(json).toMatchObject({ status: 'partial_failure', total: 10, succeeded: 9, failed: 1 });
    expect(json.recentFailures.map((f) => [f.key, f.errorType, f.attempts])).toEqual([
      ['D0005', 'PermanentTargetError', Number(received)],
    ]);
    expect(json.recentFailures[0]!.errorMessage).toContain('scan-0005.pdf: the PDF is truncated');
    const failedCsv = await readFile(path.join(r.out, 'results', 'failed.csv'), 'utf8');
    expect(failedCsv.trim().split('\n')).toHaveLength(2); // header + the scan
    expect(failedCsv).toContain('scan-0005.pdf');
  });

  it('excel: the results workbook has every order row with its outcome', async () => {
    const r = await runExample('excel');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'excel: results.xlsx has 30 order rows: 29 succeeded, 1 skipped (row 18); the target saved 29 orders, 0 twice\nexcel: OK',
    );
    expect(r.summary).toMatchObject({ status: 'completed', total: 30, succeeded: 29, skipped: 1 });
    const book = new ExcelJS.Workbook();
    await book.xlsx.readFile(path.join(r.out, 'results', 'results.xlsx'));
    const sheet = book.worksheets.find((s) => (s.getRow(1).values as unknown[]).includes('durabatch_status'));
    expect(sheet, 'a sheet with durabatch_status').toBeDefined();
    const header = sheet!.getRow(1).values as unknown[];
    const statusCol = header.indexOf('durabatch_status');
    const statuses: string[] = [];
    sheet!.eachRow((row, n) => {
      if (n > 1) statuses.push(row.getCell(statusCol).text);
    });
    expect(statuses).toHaveLength(30);
    expect(statuses.filter((s) => s === 'succeeded')).toHaveLength(29);
    expect(sheet!.getRow(18).getCell(statusCol).value).toBe('skipped');
  });

  it('images: the report archive holds one converted picture per source picture', async () => {
    // The example needs ImageMagick: say so plainly rather than skip.
    const im = await exec('convert', ['-version']).catch((err: Error) => ({ stdout: err.message }));
    expect(im.stdout, 'ImageMagick `convert` must be installed for the images example').toContain(
      'ImageMagick',
    );
    const r = await runExample('images');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /images: 12 of 12 pictures converted with preset web-thumbnail at concurrency \d+ \(all cores\); .*web-thumbnail\.zip holds 12 of them, 12 within 320×320, 0 under failed\/\nimages: OK/,
    );
    expect(r.summary).toMatchObject({ status: 'completed', total: 12, succeeded: 12 });
    const entries = await zipEntries(path.join(r.work, 'web-thumbnail.zip'));
    const pictures = entries.filter((e) => e.startsWith('documents/'));
    expect(pictures).toHaveLength(12);
    expect(pictures.every((e) => e.endsWith('/thumbnail.jpg'))).toBe(true);
    expect(entries.filter((e) => e.startsWith('failed/'))).toEqual([]);
    expect(entries).toContain('results/summary.json');
  });

  it('reports: pauses at the budget, then completes after set --budget and resume', async () => {
    const r = await runExample('reports');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('cost        6 (12 × 0.5)'); // the plan preview
    expect(r.stderr).toContain('the expected cost 6 exceeds the budget 3');
    // run's terminal says why the batch stopped starting items, once, above the progress line.
    expect(r.stderr.match(/^paused: [^\n]*budget[^\n]*`durabatch resume /gm)).toHaveLength(1);
    expect(r.stderr).toMatch(
      /reports: paused for the budget at 6 reports \(cost [\d.]+ of 3\), budget raised to 6, resumed: 12 of 12 reports, cost 6; the service made 12 reports, 0 twice\nreports: OK/,
    );
    expect(r.summary).toMatchObject({ status: 'completed', total: 12, succeeded: 12, cost: 6, budget: 6 });
    const audit = await readJsonLines<{ action: string; by?: string; args?: { budget?: number } }>(
      path.join(r.out, 'audit', 'audit.jsonl'),
    );
    const actions = audit.map((a) => (a.by === 'budget' ? `${a.action} by budget` : a.action));
    expect(actions.filter((a) => a !== 'start')).toEqual(['pause by budget', 'set', 'resume']);
    expect(audit.find((a) => a.action === 'pause')!.args!.budget).toBe(3);
    expect(audit.find((a) => a.action === 'set')!.args!.budget).toBe(6);
  });

  it('api: the documents job through the service: the scan fails, the events end each document once', async () => {
    const r = await runExample('api');
    expect(r.code, r.stderr).toBe(0);
    const verdict =
      /api: batch (\S+): 10 documents through the service, 9 stored \(9 intact, once each\), 1 failed \(D0005 PermanentTargetError after \d+ attempt\(s\)\); events: 10 documents ended, 10 distinct, \d+ counts, end 9\/1 = report 9\/1; the retried POST answered the same batch; failed\.csv 1 row\(s\), archive \d+ bytes\napi: OK/.exec(
        r.stderr,
      );
    expect(verdict, r.stderr).not.toBeNull();
    const batchId = verdict![1]!;
    // Each request was shown as it ran.
    expect(r.stderr).toMatch(/^POST \/v1\/batches \[multipart: 10 files, .*\] → 202 in \d+ ms: /m);
    expect(r.stderr).toMatch(new RegExp(`^GET /v1/batches/${batchId}/events → 200: text/event-stream`, 'm'));
    expect(r.stderr).toMatch(
      new RegExp(`^GET /v1/batches/${batchId}/items\\?status=failed → 200 .*: 1 failed`, 'm'),
    );
    // One batch, though the POST was sent twice: one output directory under the service's root.
    expect(await readdir(r.out)).toEqual([batchId]);
    const summary = JSON.parse(
      await readFile(path.join(r.out, batchId, 'results', 'summary.json'), 'utf8'),
    ) as ExampleRun['summary'];
    expect(summary).toMatchObject({ status: 'partial_failure', total: 10, succeeded: 9, failed: 1 });
    const failedCsv = await readFile(path.join(r.out, batchId, 'results', 'failed.csv'), 'utf8');
    expect(failedCsv.trim().split('\n')).toHaveLength(2); // header + the scan
    expect(failedCsv).toContain('scan-0005.pdf');
    // The service acted as the example's token: the start is audited under its name.
    const audit = await readJsonLines<{ action: string; user?: string }>(
      path.join(r.out, batchId, 'audit', 'audit.jsonl'),
    );
    expect(audit.filter((a) => a.action === 'start').map((a) => a.user)).toEqual(['token:ingest-app']);
    // The downloads are the batch's own files.
    expect(await readFile(path.join(r.work, 'downloads', 'failed.csv'), 'utf8')).toBe(failedCsv);
    expect((await zipEntries(path.join(r.work, 'downloads', `${batchId}.zip`))).length).toBeGreaterThan(0);
  });
});

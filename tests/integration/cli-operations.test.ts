// The operator commands as a user runs them (the real `durabatch` process against the test's dev
// server): list, report (with --zip), retry-failed and plan.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import type { BatchListEntry } from '../../src/client/listing';
import type { ItemOutcome } from '../../workflows/types';
import { runCli, type CliResult } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import { readJsonLines, writeCsv } from '../helpers/files';
import { zipEntries } from '../helpers/files';

let ctx: TestContext;

function durabatch(args: string[]): Promise<CliResult> {
  // The test's own home: staged retry files stay in the test's temporary directory.
  return runCli(args, {
    env: { DURABATCH_HOME: ctx.home, TEMPORAL_ADDRESS: ctx.address },
    cwd: ctx.dir,
    timeoutMs: 60_000,
  });
}

/** Visibility is eventually consistent: a just-closed batch may take a moment to show. */
async function listUntil(
  args: string[],
  found: (rows: BatchListEntry[]) => boolean,
): Promise<BatchListEntry[]> {
  for (let i = 0; ; i++) {
    const res = await durabatch(['list', '--json', ...args]);
    expect(res.code, res.stderr).toBe(0);
    const rows = JSON.parse(res.stdout) as BatchListEntry[];
    if (found(rows) || i >= 20) return rows;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('durabatch list, report, retry-failed, plan', () => {
  let target: TargetApi;
  const stamp = Date.now().toString(36);
  const oldId = `ops-${stamp}`;
  const failing = new Set(['K03', 'K07', 'K08', 'K15']);
  let csv: string;
  let startedAfter: string;

  beforeAll(async () => {
    ctx = await createTestContext('cliops');
    target = await startTargetApi({ failureRate: 0, rateLimitRate: 0, latencyMs: [1, 5] });
    await ctx.startWorker();
    // `{?status}` sends ?status=422 for the failing rows (a permanent error) and ?status=0 for the rest.
    const rows = Array.from({ length: 20 }, (_, i) => {
      const id = `K${String(i + 1).padStart(2, '0')}`;
      return { id, name: `Name ${i + 1}`, status: failing.has(id) ? 422 : 0 };
    });
    csv = await writeCsv(ctx.dir, `ops-${stamp}.csv`, rows);
    startedAfter = new Date(Date.now() - 5_000).toISOString();
    const started = await ctx.batches.start(
      csv,
      ctx.config({
        http: { url: `${target.url}/patients{?status}` },
        idColumn: 'id',
        batchId: oldId,
        concurrency: 5,
      }),
    );
    await started.handle.result();
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('lists the finished batch with its counts, and filters by status', async () => {
    const filters = ['--since', startedAfter, '--source', path.basename(csv), '--limit', '200'];
    const rows = await listUntil(['--status', 'partial_failure', ...filters], (r) =>
      r.some((b) => b.batchId === oldId),
    );
    expect(rows.find((b) => b.batchId === oldId)).toMatchObject({
      status: 'partial_failure',
      workflowStatus: 'COMPLETED',
      total: 20,
      percent: 100,
      failed: 4,
      succeeded: 16,
      source: csv,
    });
    expect(rows.find((b) => b.batchId === oldId)?.throughputPerMinute).toBeGreaterThan(0);
    const completed = await durabatch(['list', '--json', '--status', 'completed', ...filters]);
    expect(completed.code).toBe(0);
    expect((JSON.parse(completed.stdout) as BatchListEntry[]).map((b) => b.batchId)).not.toContain(oldId);
    const table = await durabatch(['list', ...filters]);
    expect(table.stdout).toMatch(new RegExp(`${oldId}\\s+partial_failure\\s+100%\\s+20\\s+4\\s`));
    const bad = await durabatch(['list', '--status', 'done']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--status "done" is not a batch status');
  });

  it('reports the summary and file paths, and zips results/, documents/ and audit/', async () => {
    const zip = path.join(ctx.dir, 'report.zip');
    const res = await durabatch(['report', oldId, '--zip', zip]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`durabatch report — batch ${oldId}`);
    expect(res.stdout).toContain('20 total: 16 succeeded, 4 failed');
    expect(res.stdout).toContain(path.join(ctx.dir, 'output', oldId, 'results', 'failed.csv'));
    expect(res.stdout).toMatch(/archive: .*report\.zip \(\d+ files/);
    const entries = await zipEntries(zip);
    expect(entries).toEqual(
      expect.arrayContaining(['results/summary.json', 'results/items.jsonl', 'audit/audit.jsonl']),
    );
    expect(entries.some((e) => e.startsWith('results/pages/'))).toBe(false);
    const missing = await durabatch(['report', `no-such-${stamp}`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`no batch with id "no-such-${stamp}"`);
  });

  it('retries exactly the failed items, with the same keys, linked both ways', async () => {
    const newId = `${oldId}-retry`;
    const out = path.join(ctx.dir, 'retry-out');
    // A fixed URL (no ?status) lets the retried items succeed; the other settings come from the old batch.
    const res = await durabatch([
      'retry-failed',
      oldId,
      '--url',
      `${target.url}/patients`,
      '--batch-id',
      newId,
      '--output-dir',
      out,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim()).toBe(newId);
    const handle = ctx.client.workflow.getHandle(newId);
    await handle.result();
    const items = await readJsonLines<ItemOutcome>(path.join(out, 'results', 'items.jsonl'));
    expect(items.map((o) => o.key).sort()).toEqual([...failing].sort());
    expect(items.every((o) => o.status === 'succeeded')).toBe(true);
    expect((await handle.describe()).memo).toMatchObject({ retryOf: oldId, total: 4 });
    const oldAudit = await readJsonLines<{ action: string; args?: { newBatchId?: string } }>(
      path.join(ctx.dir, 'output', oldId, 'audit', 'audit.jsonl'),
    );
    expect(oldAudit.find((a) => a.action === 'retry-failed')?.args?.newBatchId).toBe(newId);
    const newAudit = await readJsonLines<{ action: string; args?: { retryOf?: string } }>(
      path.join(out, 'audit', 'audit.jsonl'),
    );
    expect(newAudit[0]).toMatchObject({ action: 'start', args: { retryOf: oldId } });
    // The retried batch has no failures left: a second retry is refused, naming why.
    const again = await durabatch(['retry-failed', newId]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('has no failed items');
  });

  it('plans a CSV with invalid rows without starting anything', async () => {
    const file = path.join(ctx.dir, 'plan.csv');
    await writeFile(file, 'id,name,age\nP1,Ann,30\nP2,Bob,abc\nP3,,40\nP4,Dan,7\n');
    const schema = JSON.stringify({ required: ['id', 'name'], fields: { age: { type: 'integer', min: 0 } } });
    const planId = `plan-${stamp}`;
    const res = await durabatch([
      'plan',
      file,
      '--url',
      `${target.url}/patients`,
      '--id-column',
      'id',
      '--schema',
      schema,
      '--batch-id',
      planId,
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    const plan = JSON.parse(res.stdout) as {
      total: number;
      valid: number;
      invalid: number;
      invalidRows: { line: number; reason: string }[];
    };
    expect(plan).toMatchObject({ total: 4, valid: 2, invalid: 2 });
    expect(plan.invalidRows.map((r) => r.line)).toEqual([3, 4]);
    expect(plan.invalidRows[0]!.reason).toMatch(/^line 3: field age/);
    const text = await durabatch([
      'plan',
      file,
      '--url',
      `${target.url}/patients`,
      '--schema',
      schema,
      '--concurrency',
      '2',
    ]);
    expect(text.stdout).toContain('4 (2 to run, 2 invalid');
    expect(text.stdout).toMatch(/line 4: field name: is required/);
    expect(text.stdout).toContain('nothing was started');
    // The mode it would run in, and each mode's estimate: 2 items at 1 s, concurrency 2 → 1 s.
    expect(text.stdout).toContain(
      '  mode        per-item (--items-per-child 1); estimated per-item ~1s, page ~1s, page-local ~1s, runner ~1s\n',
    );
    const auto = await durabatch([
      'plan',
      file,
      '--url',
      `${target.url}/patients`,
      '--items-per-child',
      'auto',
      '--json',
    ]);
    expect(JSON.parse(auto.stdout)).toMatchObject({
      mode: { name: 'per-item', itemsPerChild: 1, itemExecution: 'activity', why: 'auto' },
    });
    await expect(ctx.client.workflow.getHandle(planId).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
    const { count } = await ctx.client.workflow.count(`WorkflowId = "${planId}" OR BatchId = "${planId}"`);
    expect(count).toBe(0);
  });

  it('prints help with examples for each command', async () => {
    for (const cmd of ['list', 'report', 'retry-failed', 'plan']) {
      const res = await durabatch([cmd, '--help']);
      expect(res.code).toBe(0);
      expect(res.stdout, cmd).toContain('Examples:');
    }
  });
});

// One command, one batch (issue 23, "a batch is never started twice by accident"): two `run`s of the
// same command started together make one batch, and re-running the command of a finished batch shows
// its summary and sends nothing; only `--new` processes the items again.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TargetApi } from '../../examples/target-api/server';
import type { RunRecord } from '../../src/home/run-record';
import { runCli } from '../helpers/cli';
import { listIds, quietTarget, receivedFor } from '../helpers/engine';
import { patientRows, writeCsv } from '../helpers/files';

const ITEMS = 6;

describe('run: one command makes one batch', () => {
  const stamp = Date.now().toString(36);
  const address = inject('temporalAddress');
  const taskQueue = `run-once-${stamp}`;
  let dir: string;
  let home: string;
  let target: TargetApi;
  let client: Client;
  let args: string[];

  const durabatch = (extra: string[] = []) =>
    runCli([...args, ...extra], {
      env: { DURABATCH_HOME: home, TEMPORAL_ADDRESS: address },
      cwd: dir,
      timeoutMs: 120_000,
    });
  /** Batches (parent workflows) on this test's task queue, as visibility lists them. */
  const batches = () => listIds(client, `WorkflowType = "batchWorkflow" AND TaskQueue = "${taskQueue}"`);
  const runFiles = async () => readdir(path.join(home, 'runs'));

  beforeAll(async () => {
    dir = await mkdtemp(path.join(inject('tmpRoot'), 'run-once-'));
    home = path.join(dir, 'home');
    target = await quietTarget();
    client = new Client({ connection: await Connection.connect({ address }), namespace: 'default' });
    const csv = await writeCsv(dir, `once-${stamp}.csv`, patientRows(ITEMS));
    args = ['run', csv, '--url', `${target.url}/patients`, '--id-column', 'id', '--task-queue', taskQueue];
  });
  afterAll(async () => {
    await client?.connection.close();
    await target?.close();
  });

  it('two runs of the same command started together make exactly one batch', async () => {
    const [a, b] = await Promise.all([durabatch(), durabatch()]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const ids = await batches();
    expect(ids).toHaveLength(1);
    const batchId = ids[0]!;
    // Both processes followed that batch to its end, and only one of them started it.
    for (const r of [a, b]) expect(r.stderr).toContain(`batch ${batchId} completed`);
    const started = [a, b].filter((r) => r.stderr.includes(`batch ${batchId}: ${ITEMS} items`));
    expect(started).toHaveLength(1);
    // The target received each item once, under that batch's keys.
    const got = receivedFor(target, batchId);
    expect([...got.keys()].sort()).toEqual(patientRows(ITEMS).map((r) => r.id));
    for (const [, r] of got) expect(r.effects).toBe(1);
    expect(target.stats().effects).toBe(ITEMS);
    // The record is kept, marked finished; the lock is gone.
    expect(await runFiles()).toEqual([expect.stringMatching(/^[0-9a-f]{32}\.json$/)]);
    const record = JSON.parse(
      await readFile(path.join(home, 'runs', (await runFiles())[0]!), 'utf8'),
    ) as RunRecord;
    expect(record).toMatchObject({ batchId, status: 'completed' });
    expect(Date.parse(record.finishedAt ?? '')).toBeGreaterThan(Date.parse(record.startedAt));
  });

  it("re-running a finished batch's command sends nothing and shows that batch's summary", async () => {
    const [batchId] = await batches();
    const requests = target.stats().requests;
    const res = await durabatch();
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`batch ${batchId}, started `);
    expect(res.stderr).toContain('has already ended: nothing is sent again');
    expect(res.stderr).toContain(`batch ${batchId} completed`);
    expect(res.stderr).toContain(`total ${ITEMS} = succeeded ${ITEMS} + failed 0`);
    expect(target.stats().requests).toBe(requests);
    expect(target.stats().effects).toBe(ITEMS);
    expect(await batches()).toEqual([batchId]);
  });

  it('a lock left by a run killed while starting its batch is taken over, not waited for', async () => {
    const [record] = await runFiles();
    const key = record!.replace(/\.json$/, '');
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => gone.once('exit', resolve));
    const lock = path.join(home, 'runs', `${key}.lock`);
    await writeFile(
      lock,
      JSON.stringify({ pid: gone.pid, host: hostname(), acquiredAt: '2020-01-01T00:00:00Z', token: 'dead' }),
    );
    const [batchId] = await batches();
    const requests = target.stats().requests;
    const res = await durabatch();
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain('waiting: another');
    expect(res.stderr).toContain(`batch ${batchId}, started `);
    expect(target.stats().requests).toBe(requests);
    expect(await runFiles()).toEqual([record]);
  });

  it('--new runs the command again as a separate batch, on purpose', async () => {
    const [first] = await batches();
    const res = await durabatch(['--new']);
    expect(res.code, res.stderr).toBe(0);
    const ids = await batches();
    expect(ids).toHaveLength(2);
    const second = ids.find((id) => id !== first)!;
    expect(res.stderr).toContain(`batch ${second}: ${ITEMS} items`);
    expect(receivedFor(target, second).size).toBe(ITEMS);
    expect(target.stats().effects).toBe(2 * ITEMS);
  });
});

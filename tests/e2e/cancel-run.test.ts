// `durabatch run` with a command per item, and `durabatch cancel --item` from a second terminal, as a
// user would: the cancelled item's process is gone within 3 s, never more than --concurrency probes
// ran at once, the batch completes, and nothing from the SDK's core reached the run's terminal.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import { readItems, waitFor } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { alive, maxOverlap, probeRuns, writeProbe } from '../helpers/probe';

const BIN = path.resolve('bin/durabatch.js');

describe('durabatch run + cancel --item', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('cancel-run');
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it('kills the cancelled item within 3 s, holds --concurrency, and prints nothing from the SDK core', async () => {
    const probe = await writeProbe(ctx.dir);
    const log = path.join(ctx.dir, 'probe.log');
    const batchId = `cancel-run-${Date.now()}`;
    const rows = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, seconds: id === 'b' ? 60 : 1 }));
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, rows);
    const env = { ...process.env, CI: 'true', DURABATCH_HOME: ctx.home, TEMPORAL_ADDRESS: ctx.address };
    const outFile = path.join(ctx.dir, 'run.stdout');
    const errFile = path.join(ctx.dir, 'run.stderr');
    const [out, err] = [openSync(outFile, 'w'), openSync(errFile, 'w')];
    const run = spawn(
      process.execPath,
      [
        BIN,
        'run',
        csv,
        '--command',
        `${probe} ${log} {id} {seconds}`,
        '--id-column',
        'id',
        '--concurrency',
        '2',
        '--batch-id',
        batchId,
        '--task-queue',
        ctx.taskQueue,
        '--output-dir',
        path.join(ctx.dir, 'out'),
      ],
      { env, cwd: ctx.dir, stdio: ['ignore', out, err] },
    );
    const exited = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
    try {
      const b = await waitFor('item b running', async () => (await probeRuns(log)).get('b'), 60_000);
      const cancelled = await runCli(['cancel', batchId, '--item', 'b'], { env });
      expect(cancelled.code, cancelled.stderr).toBe(0);
      const answered = Date.now();
      await waitFor('the cancelled probe gone', () => !alive(b.pid), 3_000, 20);
      expect(Date.now() - answered).toBeLessThan(3_000);
      expect(await exited).toBe(0);
    } finally {
      run.kill('SIGKILL');
      closeSync(out);
      closeSync(err);
    }

    const runs = await probeRuns(log);
    expect([...runs.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(maxOverlap([...runs.values()])).toBeLessThanOrEqual(2);
    const items = new Map((await readItems(path.join(ctx.dir, 'out'))).map((i) => [i.key, i]));
    expect([...items.values()].map((i) => i.status).sort()).toEqual([
      'cancelled',
      'succeeded',
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    expect(items.get('b')).toMatchObject({ status: 'cancelled' });

    const screen = (await readFile(outFile, 'utf8')) + (await readFile(errFile, 'utf8'));
    expect(screen).toContain(`batch ${batchId} completed`);
    // The SDK's core writes coloured lines naming its Rust modules; pino JSON names the component.
    expect(screen).not.toContain(String.fromCharCode(27)); // ANSI escapes
    expect(screen).not.toMatch(/temporal_sdk_core|temporal_client|sdk_core|"component":"temporal"/);
    // They went to the log file instead, if there were any.
    await expect(readFile(path.join(ctx.dir, 'out', 'logs', 'worker.jsonl'), 'utf8')).resolves.toContain(
      batchId,
    );
  });
});

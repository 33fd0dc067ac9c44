// The command processor on a real dev server with real programs: ImageMagick converting real files
// into documents/, a hung program killed (with its process group) at its timeout, a running item
// cancelled with its process killed, and exit codes mapped to retry / fail.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeKey } from '../../src/output-dir/layout';
import { cancelItemUpdate } from '../../workflows/messages';
import type { StepResult } from '../../workflows/types';
import { createTestContext, type TestContext } from '../helpers/context';
import { batchEnd, liveProgress, readItems, waitFor, finalProgress } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { activityResults } from '../helpers/history';
import { batchLogLines, DEBUG, TRACE } from '../helpers/log-lines';
import { findProcesses, uniqueSleepSeconds } from '../helpers/procs';

/** Real ImageMagick (not a stand-in that merely mentions the name): `convert -version` says so. */
function hasImageMagick(): boolean {
  const r = spawnSync('convert', ['-version'], { encoding: 'utf8' });
  return r.status === 0 && /^Version: ImageMagick \d/m.test(r.stdout);
}
const magick = hasImageMagick();
const onCi = process.env.CI === 'true';

describe('command processor with real programs', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext('proc-cmd');
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
  });

  // CI installs ImageMagick: there a missing or fake one fails the test instead of skipping it.
  it.skipIf(!magick && !onCi)(
    'converts real PNG files to JPEG into documents/ with ImageMagick',
    async () => {
      expect(magick, 'ImageMagick (convert -version printing "Version: ImageMagick") is required on CI').toBe(
        true,
      );
      const dir = path.join(ctx.dir, 'images');
      await mkdir(path.join(dir, 'sub'), { recursive: true });
      // A name with a space and a quote: arguments reach the program as they are, with no shell between.
      const images = [
        { rel: 'red.png', args: ['-size', '64x48', 'xc:red'], size: '64x48' },
        { rel: "blue sky's.png", args: ['-size', '40x30', 'gradient:blue-white'], size: '40x30' },
        { rel: 'sub/plasma.png', args: ['-size', '32x32', 'plasma:fractal'], size: '32x32' },
      ];
      for (const img of images) {
        execFileSync('convert', [...img.args, path.join(dir, img.rel)]);
        const head = (await readFile(path.join(dir, img.rel))).subarray(0, 8);
        expect(head.toString('hex')).toBe('89504e470d0a1a0a'); // really PNGs to start with
      }

      const batchId = `cmd-convert-${Date.now()}`;
      const config = ctx.config({
        batchId,
        format: 'dir',
        processor: 'command',
        // The command-line string form: split like a shell would, run without one.
        command: { argv: 'convert {path} {documents}/out.jpg', timeoutMs: 30_000 },
      });
      const started = await ctx.batches.start(dir, config);
      expect(started.total).toBe(3);
      const result = await finalProgress(started.handle);
      expect(result).toMatchObject({ status: 'completed', total: 3, succeeded: 3, failed: 0 });

      // Each item's record in the report lists the files it produced.
      const records = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
      for (const img of images) {
        const rel = `documents/${safeKey(img.rel)}/out.jpg`;
        expect(records.get(img.rel)?.files).toEqual([rel]);
        const out = path.join(started.outputDir, rel);
        const bytes = await readFile(out);
        expect(bytes.subarray(0, 3).toString('hex')).toBe('ffd8ff'); // JPEG magic
        expect(execFileSync('identify', ['-format', '%m %wx%h', out], { encoding: 'utf8' })).toBe(
          `JPEG ${img.size}`,
        );
        // The step reported the file it produced, relative to the output directory.
        const [step] = await activityResults<StepResult>(ctx.client, `${batchId}/${img.rel}`);
        expect(step?.files).toEqual([rel]);
      }
    },
  );

  it('kills a hung program (and its process group) at the timeout: CommandTimeout, nothing left running', async () => {
    const single = uniqueSleepSeconds();
    const grouped = uniqueSleepSeconds();
    const stubborn = uniqueSleepSeconds();
    // Distinct sources (keys H1, H2, H3): identical ones started at once hit a staging race, see
    // stage-concurrent.test.ts.
    const run = async (key: string, argv: string[]) => {
      const batchId = `cmd-hung-${key}-${Date.now()}`;
      const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: key }]);
      const config = ctx.config({
        batchId,
        idColumn: 'id',
        processor: 'command',
        maxAttempts: 1,
        command: { argv, timeoutMs: 1_000 },
      });
      const t0 = Date.now();
      const started = await ctx.batches.start(csv, config);
      const result = await finalProgress(started.handle);
      return { key, result, elapsed: Date.now() - t0, items: await readItems(started.outputDir) };
    };
    const [a, b, c] = await Promise.all([
      run('H1', ['sleep', single]),
      // A program that leaves a background child behind: the whole group goes at the timeout.
      run('H2', ['sh', '-c', 'sleep "$0" & sleep "$0"; echo never', grouped]),
      // A program ignoring SIGTERM (inherited by its child): SIGKILL after the grace period.
      run('H3', ['sh', '-c', 'trap "" TERM; sleep "$0"; echo never', stubborn]),
      // Positive control: the programs really ran (and would be seen by the check below).
      waitFor(
        'the single sleep running',
        async () => (await findProcesses(['sleep', single])).length === 1,
        15_000,
      ),
      waitFor(
        'the grouped sleeps running',
        async () => (await findProcesses(['sleep', grouped])).length === 2,
        15_000,
      ),
      waitFor(
        'the stubborn sleep running',
        async () => (await findProcesses(['sleep', stubborn])).length === 1,
        15_000,
      ),
    ]);
    for (const r of [a, b, c]) {
      expect(r.elapsed).toBeLessThan(10_000); // far below the program's own 37 s
      expect(r.result).toMatchObject({
        status: 'failed',
        failed: 1,
        errorsByType: { CommandTimeout: 1 },
      });
      expect(r.items).toEqual([
        expect.objectContaining({ key: r.key, status: 'failed', errorType: 'CommandTimeout', attempts: 1 }),
      ]);
    }
    expect(await findProcesses(['sleep', single])).toEqual([]);
    expect(await findProcesses(['sleep', grouped])).toEqual([]);
    expect(await findProcesses(['sleep', stubborn])).toEqual([]);
  });

  it('cancelling a running item kills its program: the item ends cancelled within seconds', async () => {
    const long = uniqueSleepSeconds();
    const batchId = `cmd-cancel-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [
      { id: 'C1', seconds: long },
      { id: 'C2', seconds: '0.2' },
    ]);
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      processor: 'command',
      command: { argv: ['sleep', '{seconds}'], timeoutMs: 60_000 },
    });
    const started = await ctx.batches.start(csv, config);
    const [proc] = await waitFor(
      'the long sleep running',
      () => findProcesses(['sleep', long]).then((p) => (p.length ? p : undefined)),
      15_000,
    );
    await waitFor('C2 done, C1 running', async () => {
      const p = await liveProgress(started.handle);
      return p.succeeded === 1 && p.running === 1;
    });

    const asked = Date.now();
    expect(await started.handle.executeUpdate(cancelItemUpdate, { args: [{ key: 'C1' }] })).toEqual({
      key: 'C1',
      action: 'cancelling',
    });
    await waitFor(
      'the cancelled item’s process gone',
      async () => (await findProcesses(['sleep', long])).length === 0,
      5_000,
    );
    expect(Date.now() - asked).toBeLessThan(5_000);
    // Not just gone from the list: that very pid is dead (or a zombie awaiting its reaper).
    const state = await readFile(`/proc/${proc!.pid}/stat`, 'utf8').catch(() => '');
    expect(state === '' || / Z /.test(state)).toBe(true);

    const end = await batchEnd(started.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', succeeded: 1, cancelled: 1, failed: 0 },
    });
    expect(Date.now() - asked).toBeLessThan(10_000);
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    expect(items.get('C1')).toMatchObject({ status: 'cancelled', errorType: 'Cancelled' });
    expect(items.get('C2')).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('maps exit codes: 75 is retried, another failing code fails at once, stdout JSON is the result', async () => {
    const batchId = `cmd-exit-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [
      { id: 'E1', code: 75 },
      { id: 'E2', code: 3 },
    ]);
    // Fails attempt 1 with the item's code, then prints JSON (the program's own script, run by sh).
    const script =
      'if [ "$DURABATCH_ATTEMPT" -lt 2 ]; then echo "bad $1" >&2; exit "$1"; fi; printf \'{"attempt":%s}\' "$DURABATCH_ATTEMPT"';
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      processor: 'command',
      command: { argv: ['sh', '-c', script, 'sh', '{code}'], timeoutMs: 10_000 },
    });
    const started = await ctx.batches.start(csv, config);
    const result = await finalProgress(started.handle);
    expect(result).toMatchObject({
      status: 'partial_failure',
      succeeded: 1,
      failed: 1,
      errorsByType: { CommandFailed: 1 },
    });
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    expect(items.get('E1')).toMatchObject({ status: 'succeeded', attempts: 2, output: '{"attempt":2}' });
    expect(items.get('E2')).toMatchObject({ status: 'failed', attempts: 1, errorType: 'CommandFailed' });
    expect(items.get('E2')?.errorMessage).toContain('exited with code 3: bad 3');
    const [step] = await activityResults<StepResult>(ctx.client, `${batchId}/E1`);
    expect(step).toMatchObject({ attempt: 2, body: { attempt: 2 } });
    // Items that produced nothing leave no documents folder behind.
    expect(
      await stat(path.join(started.outputDir, 'documents', 'E1')).catch(() => undefined),
    ).toBeUndefined();
  });

  it('at debug, logs each run: argv (secret flags masked), exit code, latency and a stderr excerpt', async () => {
    const batchId = `cmd-debug-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [
      { id: 'D1', mode: 'ok' },
      { id: 'D2', mode: 'bad' },
    ]);
    // $0 is the item's mode; $1 a secret-named flag that must not reach the log.
    const script = 'if [ "$0" = ok ]; then echo \'{"fine":true}\'; else echo "no good: $0" >&2; exit 3; fi';
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      processor: 'command',
      command: { argv: ['sh', '-c', script, '{mode}', '--password=pw-secret-77'], timeoutMs: 10_000 },
      logLevels: { processor: 'debug' },
    });
    const started = await ctx.batches.start(csv, config);
    const result = await finalProgress(started.handle);
    expect(result).toMatchObject({ status: 'partial_failure', succeeded: 1, failed: 1 });

    const lines = await batchLogLines(started.outputDir);
    const runs = lines.filter((l) => l.level === DEBUG && l.msg.startsWith('command sh '));
    const byKey = new Map(runs.map((l) => [l.itemKey, l]));
    expect(runs).toHaveLength(2); // one attempt each: exit 3 is not retryable
    const argv = (mode: string) => ['sh', '-c', script, mode, '--password=****'];
    expect(byKey.get('D1')).toMatchObject({
      batchId,
      op: 'processor',
      argv: argv('ok'),
      exitCode: 0,
      stderr: '',
      latencyMs: expect.any(Number) as unknown,
    });
    expect(byKey.get('D1')!.msg).toMatch(/^command sh exited with code 0 in \d+ ms$/);
    expect(byKey.get('D2')).toMatchObject({
      batchId,
      op: 'processor',
      argv: argv('bad'),
      exitCode: 3,
      stderr: 'no good: bad',
    });
    expect(byKey.get('D2')!.msg).toMatch(/^command sh exited with code 3 in \d+ ms$/);
    // debug, not trace: no stdout lines; and the secret is in no line at all.
    expect(lines.filter((l) => l.level === TRACE)).toEqual([]);
    expect(lines.filter((l) => JSON.stringify(l).includes('pw-secret-77'))).toEqual([]);
  });
});

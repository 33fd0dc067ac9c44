// The command processor against real processes: argv never goes through a shell, timeouts and
// cancellation kill the whole process group, exit codes map to Temporal's retry classification.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ApplicationFailure } from '@temporalio/common';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { BoundedCapture, MAX_CAPTURE_BYTES, runCommand } from '../../activities/processors/command';
import type { ProcessorContext } from '../../activities/processors/context';
import { safeKey } from '../../src/output-dir/layout';
import type { CommandProcessorSpec } from '../../workflows/types';
import { rejection } from '../helpers/rejection';

let outputDir: string;
beforeAll(async () => {
  outputDir = await mkdtemp(path.join(os.tmpdir(), 'processor-command-'));
});

interface TestCtx extends ProcessorContext {
  controller: AbortController;
}

function makeCtx(data: Record<string, unknown> = {}, key = 'K1'): TestCtx {
  const controller = new AbortController();
  const ctx: TestCtx = {
    batchId: 'batch-1',
    item: { index: 0, key, line: 2, data },
    idempotencyKey: `batch-1:${key}`,
    attempt: 1,
    signal: controller.signal,
    controller,
    heartbeat: () => undefined,
    lastHeartbeatDetails: undefined,
    steps: {},
    outputDir,
    stopGraceMs: 2_000,
    env: { PATH: process.env.PATH, SECRET_TOKEN: 's3cret' },
    log: pino({ level: 'silent' }),
  };
  return ctx;
}

const spec = (argv: string[], extra: Partial<CommandProcessorSpec> = {}): CommandProcessorSpec => ({
  type: 'command',
  argv,
  timeoutMs: 10_000,
  ...extra,
});

const failure = (p: Promise<unknown>) => rejection(p, ApplicationFailure);

/** Alive and not a zombie (an orphan's zombie lingers where init does not reap). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? execFileSync('cat', [`/proc/${pid}/stat`]).toString() : '';
  return stat !== '' && !/\) Z /.test(stat);
}

/** A shell that records its own pid and a background child's, then waits: a process tree to kill. */
function treeScript(ignoreTerm: boolean): { argv: string[]; pids: () => Promise<number[]> } {
  const pidFile = path.join(outputDir, `pids-${randomUUID()}`);
  const trap = ignoreTerm ? 'trap "" TERM; ' : '';
  return {
    argv: ['sh', '-c', `${trap}sleep 60 & echo $! > "$1"; echo $$ >> "$1"; exec sleep 60`, 'sh', pidFile],
    pids: async () => (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number),
  };
}

const waitFor = async (cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('command processor: arguments', () => {
  const tag = randomUUID().slice(0, 8);
  const markerA = path.join(os.tmpdir(), `x-${tag}`);
  const markerB = path.join(os.tmpdir(), `y-${tag}`);
  const hostile = {
    sub: `$(touch ${markerA})`,
    semi: `; rm -rf ${markerB}; touch ${markerB}`,
    tick: '`touch ' + markerA + '`',
    dots: '../..',
    url: '?&#/',
    quote: `it's "quoted" \\ $HOME`,
  };

  it('passes hostile item values to the program verbatim, one argument each, without a shell', async () => {
    const ctx = makeCtx(hostile);
    const out = await runCommand(
      spec([
        process.execPath,
        '-e',
        'console.log(JSON.stringify(process.argv.slice(1)))',
        '{sub}',
        '{semi}',
        '{tick}',
        '{dots}',
        '--opt={url}',
        '{quote}',
        '{missing}',
      ]),
      ctx,
    );
    expect(out.body).toEqual([
      hostile.sub,
      hostile.semi,
      hostile.tick,
      '../..',
      '--opt=?&#/',
      hostile.quote,
      '{missing}',
    ]);
    expect(existsSync(markerA)).toBe(false);
    expect(existsSync(markerB)).toBe(false);
  });

  it('echoes the same values through /bin/echo', async () => {
    const out = await runCommand(
      spec(['/bin/echo', '{sub}', '{semi}', '{tick}', '{dots}', '{url}']),
      makeCtx(hostile),
    );
    expect(out.output).toBe(`${[hostile.sub, hostile.semi, hostile.tick, '../..', '?&#/'].join(' ')}\n`);
    expect(out.body).toBeUndefined(); // not JSON
    expect(existsSync(markerA)).toBe(false);
    expect(existsSync(markerB)).toBe(false);
  });

  it('fills cwd, resolves ${env:NAME} in env on the worker and sets the DURABATCH_ variables', async () => {
    const ctx = makeCtx({ folder: 'sub' }, 'K/2');
    const cwd = path.join(outputDir, 'sub');
    await mkdir(cwd, { recursive: true });
    const script =
      'const e = process.env; console.log(JSON.stringify({ cwd: process.cwd(), token: e.TOKEN, plain: e.PLAIN,' +
      ' b: e.DURABATCH_BATCH_ID, k: e.DURABATCH_ITEM_KEY, i: e.DURABATCH_IDEMPOTENCY_KEY,' +
      ' a: e.DURABATCH_ATTEMPT, d: e.DURABATCH_DOCUMENTS }))';
    const out = await runCommand(
      spec([process.execPath, '-e', script], {
        cwd: `${outputDir}/{folder}`,
        env: { TOKEN: 'Bearer ${env:SECRET_TOKEN}', PLAIN: '{folder}' },
      }),
      ctx,
    );
    expect(out.body).toEqual({
      cwd,
      token: 'Bearer s3cret',
      plain: '{folder}', // env values are not item templates: item data cannot reach ${env:} resolution
      b: 'batch-1',
      k: 'K/2',
      i: 'batch-1:K/2',
      a: '1',
      d: path.join(outputDir, 'documents', safeKey('K/2')), // K_2~<hash>: `/` cannot nest folders
    });
  });

  it('fails at once (InputError) on a missing env variable or working directory', async () => {
    const noEnv = await failure(
      runCommand(spec(['/bin/true'], { env: { X: '${env:NOT_SET_ANYWHERE}' } }), makeCtx()),
    );
    expect([noEnv.type, noEnv.nonRetryable]).toEqual(['InputError', true]);
    expect(noEnv.message).toMatch(/NOT_SET_ANYWHERE/);
    const noCwd = await failure(runCommand(spec(['/bin/true'], { cwd: '/no/such/dir' }), makeCtx()));
    expect([noCwd.type, noCwd.nonRetryable]).toEqual(['InputError', true]);
    expect(noCwd.message).toMatch(/\/no\/such\/dir does not exist/);
  });
});

describe('command processor: exit codes', () => {
  const exitWith = (code: number) =>
    spec(['sh', '-c', `echo "line one" >&2; echo "disk is full" >&2; exit ${code}`]);

  it('maps 0 to success', async () => {
    const out = await runCommand(spec(['sh', '-c', 'echo \'{"id": 7}\'']), makeCtx());
    expect(out).toEqual({ output: '{"id": 7}\n', body: { id: 7 }, files: [] });
  });

  it('maps 75 to a retryable CommandRetryableExit', async () => {
    const err = await failure(runCommand(exitWith(75), makeCtx()));
    expect([err.type, err.nonRetryable]).toEqual(['CommandRetryableExit', false]);
    expect(err.message).toMatch(/exited with code 75: line one\ndisk is full/);
  });

  it('maps other codes to a non-retryable CommandFailed with a stderr excerpt', async () => {
    const err = await failure(runCommand(exitWith(3), makeCtx()));
    expect([err.type, err.nonRetryable]).toEqual(['CommandFailed', true]);
    expect(err.message).toBe('command sh exited with code 3: line one\ndisk is full');
    expect(err.details).toEqual([{ attempt: 1, exitCode: 3, signal: null }]);
  });

  it('honours custom success and retryable codes, and treats death by signal as a failure', async () => {
    expect((await runCommand({ ...exitWith(3), successExitCodes: [0, 3] }, makeCtx())).files).toEqual([]);
    const retry = await failure(runCommand({ ...exitWith(3), retryableExitCodes: [3] }, makeCtx()));
    expect(retry.type).toBe('CommandRetryableExit');
    const killed = await failure(runCommand(spec(['sh', '-c', 'kill -SEGV $$']), makeCtx()));
    expect([killed.type, killed.nonRetryable]).toEqual(['CommandFailed', true]);
    expect(killed.message).toMatch(/killed by SIGSEGV/);
  });

  it('reports a missing program as a non-retryable CommandNotFound naming it', async () => {
    const err = await failure(runCommand(spec(['durabatch-no-such-program', 'x']), makeCtx()));
    expect([err.type, err.nonRetryable]).toEqual(['CommandNotFound', true]);
    expect(err.message).toMatch(/"durabatch-no-such-program" was not found: .*PATH/);
  });
});

describe('command processor: timeout and cancellation', () => {
  it('kills the whole process group on timeout and throws a retryable CommandTimeout', async () => {
    const tree = treeScript(false);
    const started = Date.now();
    const err = await failure(runCommand(spec(tree.argv, { timeoutMs: 500 }), makeCtx()));
    expect([err.type, err.nonRetryable]).toEqual(['CommandTimeout', false]);
    expect(err.message).toMatch(/within 500 ms/);
    expect(Date.now() - started).toBeLessThan(2_000); // SIGTERM was enough
    const pids = await tree.pids();
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('escalates to SIGKILL when the group ignores SIGTERM', async () => {
    const tree = treeScript(true);
    const started = Date.now();
    const err = await failure(runCommand(spec(tree.argv, { timeoutMs: 300 }), makeCtx()));
    expect(err.type).toBe('CommandTimeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000); // the grace period was given
    for (const pid of await tree.pids()) expect(alive(pid)).toBe(false);
  });

  it('on cancellation kills the group and rethrows the signal reason', async () => {
    const tree = treeScript(false);
    const ctx = makeCtx();
    const reason = new Error('item cancelled');
    setTimeout(() => ctx.controller.abort(reason), 1_300);
    const err = await runCommand(spec(tree.argv), ctx).catch((e: unknown) => e);
    expect(err).toBe(reason);
    for (const pid of await tree.pids()) expect(alive(pid)).toBe(false);
  });

  it('on cancellation removes the files the attempt left, keeping earlier ones', async () => {
    const key = `partial-${randomUUID()}`;
    const docs = path.join(outputDir, 'documents', key);
    await mkdir(docs, { recursive: true });
    await writeFile(path.join(docs, 'from-step-1.txt'), 'kept');
    const ctx = makeCtx({}, key);
    ctx.stopGraceMs = 200;
    setTimeout(() => ctx.controller.abort(new Error('item cancelled')), 800);
    // Writes half an output, then keeps working until it is killed.
    const argv = ['sh', '-c', 'echo half > "$1/out.jpg"; sleep 30', 'sh', '{documents}'];
    await expect(runCommand(spec(argv), ctx)).rejects.toThrow('item cancelled');
    expect(await readdir(docs)).toEqual(['from-step-1.txt']);
  });

  it('does not leave background children of a program that exited normally', async () => {
    const pidFile = path.join(outputDir, `bg-${randomUUID()}`);
    await runCommand(spec(['sh', '-c', 'sleep 60 & echo $! > "$1"; echo started', 'sh', pidFile]), makeCtx());
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    await waitFor(() => !alive(pid));
  });
});

describe('command processor: capture and files', () => {
  it('keeps at most 64 KB of a stream: the head of stdout, the tail of stderr', () => {
    const head = new BoundedCapture('head');
    const tail = new BoundedCapture('tail');
    const chunk = Buffer.alloc(64 * 1024 - 7, 'a');
    for (let i = 0; i < 160; i++) {
      head.push(chunk);
      tail.push(chunk);
    }
    tail.push(Buffer.from('THE END'));
    expect(head.text().length).toBe(MAX_CAPTURE_BYTES);
    expect(head.truncated).toBe(true);
    expect(tail.text().length).toBe(MAX_CAPTURE_BYTES);
    expect(tail.text().endsWith('aTHE END')).toBe(true);
    expect(tail.truncated).toBe(true);
  });

  it('survives a program printing 10 MB on each stream, keeping bounded excerpts', async () => {
    const script =
      "const mb = 'x'.repeat(1024 * 1024); for (let i = 0; i < 10; i++) { process.stdout.write(mb); process.stderr.write(mb); }" +
      " process.stderr.write('REAL ERROR AT THE END', () => process.exit(Number(process.argv[1])))";
    const ok = await runCommand(spec([process.execPath, '-e', script, '0']), makeCtx());
    expect(ok.output!.length).toBeLessThanOrEqual(301);
    expect(ok.body).toBeUndefined();
    const err = await failure(runCommand(spec([process.execPath, '-e', script, '4']), makeCtx()));
    expect(err.message).toMatch(/REAL ERROR AT THE END$/);
    expect(err.message.length).toBeLessThan(600);
  });

  it('lists the files the program wrote into the item documents folder, relative to the output dir', async () => {
    const ctx = makeCtx({}, 'P 1/..');
    const script = 'echo a > "$1/out.txt"; mkdir -p "$1/sub"; echo b > "$1/sub/b.txt"';
    const out = await runCommand(spec(['sh', '-c', script, 'sh', '{documents}']), ctx);
    const dir = `documents/P_1_..~${createHash('sha256').update('P 1/..').digest('hex').slice(0, 16)}`;
    expect(out.files).toEqual([`${dir}/out.txt`, `${dir}/sub/b.txt`]);
    expect(await readFile(path.join(outputDir, out.files![0]!), 'utf8')).toBe('a\n');
  });

  it('runs a real conversion tool (tar + gzip; ImageMagick is not installed here)', async () => {
    const src = path.join(outputDir, 'report.txt');
    await writeFile(src, 'patient report\n'.repeat(1000));
    const ctx = makeCtx({ dir: outputDir, name: 'report.txt' }, 'R1');
    const out = await runCommand(
      spec(['tar', '-czf', '{documents}/{key}.tar.gz', '-C', '{dir}', '{name}'], { timeoutMs: 30_000 }),
      ctx,
    );
    expect(out.files).toEqual(['documents/R1/R1.tar.gz']);
    const listed = execFileSync('tar', ['-tzf', path.join(outputDir, out.files![0]!)]).toString();
    expect(listed.trim()).toBe('report.txt');
    const content = execFileSync('tar', ['-xzOf', path.join(outputDir, out.files![0]!)]).toString();
    expect(content).toBe('patient report\n'.repeat(1000));
  });
});

// Bad input and bad state, as a user meets them: the real `durabatch` process against the test's dev
// server. Each case asserts the exact error (naming the file, line, field, flag or address, and what
// to do) with its exit code, or the exact outcome of the items, and that nothing already there or
// already done is lost: a refused start creates no batch, a bad row costs only that row.
//
// Covered elsewhere, not repeated here:
// - a source edited during its batch (pauses naming the file; restored and resumed, it completes with
//   exact counts): tests/integration/source-change.test.ts;
// - `run` on a missing source (exit 2, "cannot read source …: ENOENT"), and `run` with an
//   unreachable TEMPORAL_ADDRESS: tests/integration/cli.test.ts;
// - the config loader's messages for unknown and wrong settings: tests/unit/config.test.ts;
// - row-level staging details (too-large JSONL/CSV rows, directories given as files):
//   tests/unit/sources-validation.test.ts, tests/unit/sources-formats.test.ts.
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetApi } from '../../examples/target-api/server';
import { freePort } from '../../src/server/ports';
import { runCli, type CliResult } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import {
  batchEnd,
  batchesQuery,
  controlRows,
  liveProgress,
  quietTarget,
  readItems,
  readSummary,
  receivedFor,
  tally,
  waitFor,
} from '../helpers/engine';
import { readJsonLines, writeCsv } from '../helpers/files';
import { controlUrl } from '../helpers/harness';
import { replayWorkflows } from '../helpers/replay';

/** Preloaded into a CLI child that starts as root: it then runs as nobody, so file modes apply. */
const AS_NOBODY = {
  NODE_OPTIONS:
    '--import=data:text/javascript,process.setgroups([]);process.setgid(65534);process.setuid(65534);',
};

/**
 * Lets others traverse (o+x, not list) every folder above `dir` that does not allow it — a checkout
 * under a private `mktemp -d` folder, say — so nobody can load the CLI; modes are restored after.
 */
async function withTraversable<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const changed: [string, number][] = [];
  try {
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
      const mode = (await stat(d)).mode & 0o7777;
      if ((mode & 0o001) === 0) {
        changed.push([d, mode]);
        await chmod(d, mode | 0o001);
      }
      if (path.dirname(d) === d) break;
    }
    return await fn();
  } finally {
    for (const [d, mode] of changed) await chmod(d, mode);
  }
}

let ctx: TestContext;
let target: TargetApi;
let seq = 0;
/** Batches that were started and ran, for the replay check at the end. */
const ran: string[] = [];

/** A unique batch id per case. */
const newId = (name: string) => `bad-${name}-${Date.now().toString(36)}-${++seq}`;

function durabatch(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ctx.dir): Promise<CliResult> {
  return runCli(args, {
    env: { DURABATCH_HOME: ctx.home, TEMPORAL_ADDRESS: ctx.address, ...env },
    cwd,
    // Every case ends in seconds; a hang is a failure (the child is killed: code -1), not a wait.
    timeoutMs: 90_000,
  });
}

/** `start` options for a batch of control rows against the quiet target, on this file's worker. */
function startArgs(source: string, batchId: string, extra: string[] = []): string[] {
  return [
    'start',
    source,
    '--url',
    controlUrl(target),
    '--id-column',
    'id',
    '--task-queue',
    ctx.taskQueue,
    '--batch-id',
    batchId,
    '--output-dir',
    outDir(batchId),
    ...extra,
  ];
}

const outDir = (batchId: string) => path.join(ctx.dir, 'out', batchId);

/** Nothing was created for `batchId`: no workflow, no output directory. */
async function expectNoBatch(batchId: string): Promise<void> {
  await expect(ctx.client.workflow.getHandle(batchId).describe()).rejects.toBeInstanceOf(
    WorkflowNotFoundError,
  );
  await expect(access(outDir(batchId))).rejects.toThrow(/ENOENT/);
}

async function file(name: string, content: string | Buffer): Promise<string> {
  const p = path.join(ctx.dir, name);
  await writeFile(p, content);
  return p;
}

describe('bad input and bad state', () => {
  beforeAll(async () => {
    ctx = await createTestContext('bad-input');
    await ctx.startWorker();
    target = await quietTarget();
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('1. a missing source: start and plan exit 2 naming the path; no batch is created', async () => {
    const missing = path.join(ctx.dir, 'no-such.csv');
    const expected = `durabatch: cannot read source ${missing}: ENOENT\n  fix: check the path and its permissions\n`;
    const id = newId('missing');
    const started = await durabatch(startArgs(missing, id));
    expect([started.code, started.stderr, started.stdout]).toEqual([2, expected, '']);
    await expectNoBatch(id);
    const planned = await durabatch(['plan', missing, '--url', controlUrl(target)]);
    expect([planned.code, planned.stderr, planned.stdout]).toEqual([2, expected, '']);
  });

  it('2. an unreadable source (run as an unprivileged user) and a directory given as a file: exit 2', async () => {
    // The test's directory is private to root: nobody needs a folder it may enter, holding a file it
    // may not read.
    const shared = await mkdtemp(path.join(os.tmpdir(), 'durabatch-bad-input-'));
    try {
      await chmod(shared, 0o755);
      const secret = await writeCsv(shared, 'secret.csv', controlRows(2));
      await chmod(secret, 0o600);
      const expected =
        `durabatch: cannot read source ${secret}: EACCES\n` +
        '  fix: make it readable by the user running durabatch (uid 65534), e.g. chmod a+r, or run as its owner\n';
      const id = newId('unreadable');
      // Its own HOME too: root's (mode 700) would hide the Temporal config file from it.
      const nobody = { ...AS_NOBODY, HOME: shared };
      const [started, planned] = await withTraversable(process.cwd(), async () => [
        await durabatch(startArgs(secret, id), nobody, shared),
        await durabatch(['plan', secret, '--url', controlUrl(target)], nobody, shared),
      ]);
      expect([started.code, started.stderr]).toEqual([2, expected]);
      await expectNoBatch(id);
      expect([planned.code, planned.stderr]).toEqual([2, expected]);
    } finally {
      await rm(shared, { recursive: true, force: true });
    }

    const folder = path.join(ctx.dir, 'rows.csv');
    await mkdir(folder);
    const dir = await durabatch(['plan', folder, '--format', 'csv', '--url', controlUrl(target)]);
    expect([dir.code, dir.stderr]).toEqual([
      2,
      `durabatch: source ${folder} is a directory, not a csv file\n  fix: give a file, or use --format dir\n`,
    ]);
  });

  it('4. an empty source is refused (exit 2) saying why, by format; no batch is created', async () => {
    const fix = ' (or check that this is the file you meant)';
    const cases: [string, string, string][] = [
      [
        'header.csv',
        'id,delayMs\r\n',
        `no rows below the header (or only blank lines)\n  fix: add rows below the header${fix}`,
      ],
      ['empty.jsonl', '', `the file is empty (0 bytes)\n  fix: write the items into it${fix}`],
      ['blank.jsonl', '\n  \n\n', `only blank lines\n  fix: write one JSON object per line${fix}`],
      ['empty.json', '[ ]\n', `the array is empty\n  fix: put one object per item in the array${fix}`],
    ];
    for (const [name, content, why] of cases) {
      const src = await file(name, content);
      const id = newId('empty');
      const res = await durabatch(startArgs(src, id));
      expect([res.code, res.stderr], name).toEqual([2, `durabatch: source ${src} has no items: ${why}\n`]);
      await expectNoBatch(id);
    }
  });

  it('5. a row over 256 KB is skipped as InvalidItem naming its line; the other rows succeed', async () => {
    const rows = controlRows(6).map((r) => ({ ...r, note: 'small' }));
    rows[2]!.note = 'x'.repeat(300 * 1024); // K0003, on line 4
    const csv = await writeCsv(ctx.dir, 'oversized.csv', rows);
    const id = newId('oversized');
    ran.push(id);
    const started = await durabatch(startArgs(csv, id));
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toContain('1 invalid rows will be skipped');
    const end = await batchEnd(ctx.client.workflow.getHandle(id));
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 6, succeeded: 5, skipped: 1, failed: 0, cancelled: 0 },
    });
    const items = await readItems(outDir(id));
    expect(tally(items)).toEqual({ succeeded: 5, 'skipped/InvalidItem': 1 });
    const skipped = items.find((i) => i.status === 'skipped')!;
    expect(skipped).toMatchObject({ key: 'K0003', attempts: 0 });
    expect(skipped.errorMessage).toMatch(/^line 4: row too large \(30\d KB > 256 KB\)$/);
    // failed.csv lists it with its reason, to fix and feed back.
    const failedCsv = await readFile(path.join(outDir(id), 'results', 'failed.csv'), 'utf8');
    expect(failedCsv.trim().split('\n').slice(1)).toEqual([
      expect.stringMatching(/^,,,,,InvalidItem,line 4: row too large \(30\d KB > 256 KB\),0$/),
    ]);
    // The target saw the five valid rows, once each, and never the oversized one.
    const got = receivedFor(target, id);
    expect([...got.keys()].sort()).toEqual(['K0001', 'K0002', 'K0004', 'K0005', 'K0006']);
    expect([...got.values()].every((r) => r.effects === 1)).toBe(true);
  });

  it('5b. rows just under the limit: pages stay under the payload limit and every row succeeds', async () => {
    // 12 rows of ~200 KB: 2.4 MB in all, more than Temporal takes in one page or workflow task.
    const rows = controlRows(12).map((r, i) => ({ ...r, note: String(i % 10).repeat(200 * 1024) }));
    const csv = await writeCsv(ctx.dir, 'wide.csv', rows);
    // Not replayed below: its parent's history (every page and child input: ~2× the source, 4.7 MB)
    // is more than one gRPC message of the test client takes.
    const id = newId('wide');
    const started = await durabatch(startArgs(csv, id, ['--concurrency', '12']));
    expect(started.code, started.stderr).toBe(0);
    const end = await batchEnd(ctx.client.workflow.getHandle(id));
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 12, succeeded: 12, skipped: 0, failed: 0 },
    });
    expect(receivedFor(target, id).size).toBe(12);
  });

  it('6. invalid UTF-8 in CSV, JSONL and JSON refuses the source naming the file, line and byte', async () => {
    const latin1 = (text: string) => Buffer.from(text, 'latin1');
    const cases: [string, Buffer, string][] = [
      // "José" saved as Windows-1252: é is the single byte 0xE9.
      [
        'latin1.csv',
        latin1('id,delayMs,name\nK0001,0,Ann\nK0002,0,"Jos\u00e9\nMaria"\n'),
        'line 3: not valid UTF-8 (byte 0xE9 at byte 13 of the line)',
      ],
      [
        'latin1.jsonl',
        latin1('{"id":"K0001"}\n\n{"id":"K0002","name":"Jos\u00e9"}\n'),
        'line 3: not valid UTF-8 (byte 0xE9 at byte 26 of the line)',
      ],
      [
        'latin1.json',
        latin1('[\n  {"id":"K0001"},\n  {"id":"K0002","name":"Jos\u00e9"}\n]\n'),
        'line 3: not valid UTF-8 (byte 0xE9 at byte 28 of the line)',
      ],
      // A multi-byte character cut short by the end of the file.
      [
        'cut.jsonl',
        Buffer.concat([Buffer.from('{"id":"K0001","sign":"'), Buffer.from('€').subarray(0, 2)]),
        'line 1: not valid UTF-8 (the file ends inside a multi-byte character at byte 23 of the line)',
      ],
    ];
    for (const [name, content, where] of cases) {
      const src = await file(name, content);
      const id = newId('utf8');
      const res = await durabatch(startArgs(src, id));
      const base = path.basename(name, path.extname(name));
      expect([res.code, res.stderr], name).toEqual([
        2,
        `durabatch: ${src}: ${where}\n` +
          `  fix: save it as UTF-8, e.g. from a Windows/Excel export: iconv -f WINDOWS-1252 -t UTF-8 ${name} > ${base}.utf8${path.extname(name)}\n`,
      ]);
      await expectNoBatch(id);
    }
    // Valid UTF-8 (with a BOM, multi-byte characters) goes through untouched.
    const ok = await file('utf8.csv', '\ufeffid,delayMs,name\nK0001,0,José\nK0002,0,Zoë 😀\n');
    const planned = await durabatch(['plan', ok, '--url', controlUrl(target), '--json']);
    expect(planned.code, planned.stderr).toBe(0);
    expect(JSON.parse(planned.stdout)).toMatchObject({ total: 2, valid: 2, invalid: 0 });
  });

  it('7. a module that throws when imported: run and plan refuse it (exit 2); a started batch pauses until the module is fixed', async () => {
    const bad = await file(
      'bad-module.mjs',
      "throw new Error('DATABASE_URL is not set');\nexport default async () => ({});\n",
    );
    const loadError = `module ${bad} could not be loaded: Error: DATABASE_URL is not set`;
    const fix =
      '  fix: fix the module (its top-level code runs when a worker imports it), or give another --module';
    const csv = await writeCsv(ctx.dir, 'module.csv', controlRows(3));

    const runId = newId('module-run');
    const run = await durabatch([
      'run',
      csv,
      '--module',
      bad,
      '--id-column',
      'id',
      '--task-queue',
      `${ctx.taskQueue}-run`,
      '--batch-id',
      runId,
      '--output-dir',
      outDir(runId),
    ]);
    expect([run.code, run.stderr]).toEqual([2, `durabatch: ${loadError}\n${fix}\n`]);
    await expectNoBatch(runId);

    const plan = await durabatch(['plan', csv, '--module', bad, '--id-column', 'id']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(`  processor   module ${bad}\n`);
    expect(plan.stdout).toContain(`these settings would not work:\n  ${loadError}\n  ${fix}\n`);

    // `start` leaves loading to the workers (they may have what the module needs, e.g. its
    // environment). Every item would fail the same way, so none is failed: the batch pauses with the
    // import error, and once the module is fixed on the workers, `resume` runs the waiting items.
    const id = newId('module-start');
    ran.push(id);
    const started = await durabatch(startArgs(csv, id, ['--processor', 'module', '--module', bad]));
    expect(started.code, started.stderr).toBe(0);
    const handle = ctx.client.workflow.getHandle(id);
    const paused = await waitFor('the batch paused by the import error', async () => {
      const p = await liveProgress(handle);
      return p.status === 'paused' ? p : undefined;
    });
    expect(paused).toMatchObject({ total: 3, succeeded: 0, failed: 0, skipped: 0, cancelled: 0 });
    expect(paused.statusReason).toContain(`the workers cannot run items (ModuleLoadError): ${loadError}`);
    expect(paused.statusReason).toContain(`durabatch resume ${id}`);
    const status = await durabatch(['status', id, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'paused', statusReason: paused.statusReason });
    const pauses = await waitFor('the worker pause in the audit log', async () => {
      const audit = await readJsonLines<{ action: string; by?: string }>(
        path.join(outDir(id), 'audit', 'audit.jsonl'),
      );
      const found = audit.filter((a) => a.action === 'pause');
      return found.length > 0 ? found : undefined;
    });
    expect(pauses).toEqual([expect.objectContaining({ by: 'worker' })]);

    await writeFile(bad, 'export default async (item) => ({ ok: item.key });\n');
    const resumed = await durabatch(['resume', id]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(
      `resumed ${id}: items start again (was paused: the workers cannot run items`,
    );
    const end = await batchEnd(handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 3, succeeded: 3, failed: 0 },
    });
    const items = await readItems(outDir(id));
    expect(tally(items)).toEqual({ succeeded: 3 });
  });

  it('8. a config file with an unknown field: exit 2 naming the file and field, with the closest one', async () => {
    const config = await file(
      'typo.json',
      JSON.stringify({ concurency: 4, http: { url: controlUrl(target) } }),
    );
    const csv = await writeCsv(ctx.dir, 'typo.csv', controlRows(2));
    const id = newId('config');
    for (const args of [startArgs(csv, id, ['--config', config]), ['plan', csv, '--config', config]]) {
      const res = await durabatch(args);
      expect(res.code, args[0]).toBe(2);
      expect(res.stderr).toContain(
        `durabatch: invalid settings:\n${config}: "concurency": unknown setting (did you mean "concurrency"?); ` +
          'valid settings: processor, http, command, module, steps,',
      );
      expect(res.stderr).toMatch(/\n {2}fix: see `durabatch run --help`\n$/);
    }
    await expectNoBatch(id);
  });

  it('9. an unreachable TEMPORAL_ADDRESS: start, run and status exit 2 naming it, without an embedded server', async () => {
    const address = `127.0.0.1:${await freePort()}`; // nothing listens there
    const home = path.join(ctx.dir, 'unreachable-home');
    await mkdir(home);
    const csv = await writeCsv(ctx.dir, 'unreachable.csv', controlRows(2));
    const expected =
      `durabatch: no Temporal server answers at ${address} (from TEMPORAL_ADDRESS or the Temporal config profile): Failed to connect before the deadline\n` +
      '  fix: start the server there, or correct TEMPORAL_ADDRESS; unset it to let `durabatch run` start the embedded server; ' +
      'if the server requires TLS, set TEMPORAL_TLS=true and the TEMPORAL_TLS_* certificate paths\n';
    const env = { TEMPORAL_ADDRESS: address, DURABATCH_HOME: home };
    const id = newId('unreachable');
    for (const args of [
      startArgs(csv, id),
      ['run', csv, '--url', controlUrl(target), '--batch-id', id, '--output-dir', outDir(id)],
      ['status', 'some-batch'],
    ]) {
      const res = await durabatch(args, env);
      expect([res.code, res.stderr], args[0]).toEqual([2, expected]);
    }
    // `run` did not fall back to an embedded server: it left no database or server record.
    // A Temporal config profile that cannot be read is named too (exit 2, not a stack trace).
    const toml = await file('broken.toml', 'profile = [ broken\n');
    const broken = await durabatch(['status', 'some-batch'], { TEMPORAL_CONFIG_FILE: toml });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(
      new RegExp(`^durabatch: cannot load the Temporal client config file ${toml}: Invalid TOML document`),
    );
    expect(broken.stderr).toMatch(
      /\n {2}fix: fix or remove it \(or make it readable\), point TEMPORAL_CONFIG_FILE at another file, or correct the TEMPORAL_TLS_\* paths\n$/,
    );
    const left = await readdir(home);
    expect(left).not.toContain('temporal.db');
    expect(left).not.toContain('server.json');
    await expectNoBatch(id);
  });

  it('10. a batch id that exists: the second start exits 2 naming it; the first batch is untouched', async () => {
    const id = newId('dup');
    ran.push(id);
    const first = await writeCsv(
      ctx.dir,
      'dup-first.csv',
      controlRows(6, () => ({ delayMs: 300 })),
    );
    const other = await writeCsv(
      ctx.dir,
      'dup-other.csv',
      controlRows(3).map((r) => ({ ...r, id: `X${r.id}` })),
    );
    const started = await durabatch(startArgs(first, id, ['--concurrency', '2']));
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toBe(`${id}\n`);
    const expected =
      `durabatch: a batch with id "${id}" already exists\n` +
      `  fix: see it with \`durabatch status ${id}\`, or choose another --batch-id (or leave it out for a new id)\n`;

    // While it runs, and again once it has completed: the id stays taken.
    const again = await durabatch(startArgs(other, id, ['--output-dir', path.join(ctx.dir, 'dup-2')]));
    expect([again.code, again.stderr, again.stdout]).toEqual([2, expected, '']);
    const handle = ctx.client.workflow.getHandle(id);
    const end = await batchEnd(handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 6, succeeded: 6, failed: 0 },
    });
    const after = await durabatch(startArgs(other, id));
    expect([after.code, after.stderr]).toEqual([2, expected]);

    const summary = await readSummary(outDir(id));
    expect(summary).toMatchObject({ batchId: id, status: 'completed', total: 6, succeeded: 6 });
    // One run, one start in the audit, and the other file's rows never reached the target.
    const { count } = await ctx.client.workflow.count(`WorkflowId = "${id}"`);
    expect(count).toBe(1);
    const audit = await readJsonLines<{ action: string }>(path.join(outDir(id), 'audit', 'audit.jsonl'));
    expect(audit.filter((a) => a.action === 'start')).toHaveLength(1);
    const keys = [...receivedFor(target, id).keys()].sort();
    expect(keys).toEqual(['K0001', 'K0002', 'K0003', 'K0004', 'K0005', 'K0006']);
    expect(tally(await readItems(outDir(id)))).toEqual({ succeeded: 6 });
  });

  it('replays the histories of the batches that ran without nondeterminism', async () => {
    const query = batchesQuery(ran);
    const { count } = await ctx.client.workflow.count(query);
    expect(count).toBeGreaterThan(ran.length); // parents and their items
    expect(await replayWorkflows(ctx.client, query)).toBe(count);
  });
});

// Hostile item values on a real dev server: an option-looking value never reaches a program as an
// option (ssh's ProxyCommand never runs), a climbing value never writes outside the output
// directory, and a "." or ".." never changes the path a target receives.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeKey } from '../../src/output-dir/layout';
import { createTestContext, type TestContext } from '../helpers/context';
import { finalProgress, readItems } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { startHeaderRecorder } from '../helpers/header-recorder';

describe('item values never become options, outside paths or climbing URL segments', () => {
  let ctx: TestContext;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    ctx = await createTestContext('item-values');
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
    await Promise.all(closers.map((c) => c()));
  });

  it('refuses ssh {host} with a -oProxyCommand value, from the source and from a target answer', async () => {
    const marker = path.join(ctx.dir, 'proxy-command-ran');
    const hostile = `-oProxyCommand=touch ${marker}`;
    // A lookup target answering the hostile host, for the {steps.…} case.
    const target = createServer((req, res) => {
      req.resume();
      req.on('end', () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ host: hostile })),
      );
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => target.close(() => r())));
    const lookup = `http://127.0.0.1:${(target.address() as AddressInfo).port}/hosts`;

    const batchId = `values-ssh-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'S1', host: hostile }]);
    const single = await ctx.batches.start(
      csv,
      ctx.config({
        batchId,
        idColumn: 'id',
        processor: 'command',
        command: { argv: ['ssh', '-oBatchMode=yes', '{host}', 'uptime'], timeoutMs: 10_000 },
      }),
    );
    const singleEnd = await finalProgress(single.handle);
    // ssh never started with the option: its ProxyCommand never ran.
    expect(existsSync(marker)).toBe(false);
    expect(singleEnd).toMatchObject({ failed: 1, errorsByType: { InputError: 1 } });
    const [s1] = await readItems(single.outputDir);
    expect(s1).toMatchObject({ key: 'S1', status: 'failed', attempts: 1, errorType: 'InputError' });
    expect(s1?.errorMessage).toContain(`field "host" = ${JSON.stringify(hostile)}`);

    const piped = `values-ssh-steps-${Date.now()}`;
    const csv2 = await writeCsv(ctx.dir, `${piped}.csv`, [{ id: 'P1' }]);
    const pipeline = await ctx.batches.start(
      csv2,
      ctx.config({
        batchId: piped,
        idColumn: 'id',
        steps: [
          { name: 'lookup', processor: 'http', http: { url: lookup, method: 'GET' } },
          {
            name: 'connect',
            processor: 'command',
            command: {
              argv: ['ssh', '-oBatchMode=yes', '{steps.lookup.body.host}', 'uptime'],
              timeoutMs: 10_000,
            },
          },
        ],
      }),
    );
    expect(await finalProgress(pipeline.handle)).toMatchObject({
      failed: 1,
      errorsByType: { InputError: 1 },
    });
    const [p1] = await readItems(pipeline.outputDir);
    expect(p1).toMatchObject({ key: 'P1', status: 'failed', errorType: 'InputError' });
    expect(p1?.errorMessage).toContain('field "steps.lookup.body.host"');

    // ssh never started with the option: its ProxyCommand never ran.
    expect(existsSync(marker)).toBe(false);
  });

  it('never runs an item value as shell code: sh -c with {file} is refused, "$1" is safe', async () => {
    const marker = path.join(ctx.dir, 'shell-code-ran');
    const hostile = `$(touch ${marker}).png`;
    const batchId = `values-shell-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'H1', file: hostile }]);
    const inCode = await ctx.batches.start(
      csv,
      ctx.config({
        batchId,
        idColumn: 'id',
        processor: 'command',
        command: { argv: ['sh', '-c', 'echo converting {file}'], timeoutMs: 10_000 },
      }),
    );
    expect(await finalProgress(inCode.handle)).toMatchObject({ failed: 1, errorsByType: { InputError: 1 } });
    expect((await readItems(inCode.outputDir))[0]?.errorMessage).toContain(
      'is the code sh runs (after -c), and field "file"',
    );
    expect(existsSync(marker)).toBe(false);

    // The documented way: the value is an argument of the script, never parsed as shell code.
    const asArg = await ctx.batches.start(
      csv,
      ctx.config({
        batchId: `${batchId}-arg`,
        idColumn: 'id',
        processor: 'command',
        command: { argv: ['sh', '-c', 'echo "converting $1"', 'sh', '{file}'], timeoutMs: 10_000 },
      }),
    );
    expect(await finalProgress(asArg.handle)).toMatchObject({ succeeded: 1 });
    // printed as text (the output is an excerpt: its start is enough)
    expect((await readItems(asArg.outputDir))[0]?.output).toMatch(/^converting \$\(touch \//);
    expect(existsSync(marker)).toBe(false);
  });

  it('writes nothing outside the output directory for {documents}/{name}.txt with ../../../../x', async () => {
    const batchId = `values-path-${Date.now()}`;
    // From output/<batchId>/documents/<key>/, four levels up is ctx.dir.
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [
      { id: 'ESC', name: '../../../../escaped' },
      { id: 'OK', name: 'report' },
    ]);
    const started = await ctx.batches.start(
      csv,
      ctx.config({
        batchId,
        idColumn: 'id',
        processor: 'command',
        command: { argv: ['touch', '{documents}/{name}.txt'], timeoutMs: 10_000 },
      }),
    );
    expect(await finalProgress(started.handle)).toMatchObject({ succeeded: 1, failed: 1 });
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    expect(items.get('ESC')).toMatchObject({ status: 'failed', attempts: 1, errorType: 'InputError' });
    expect(items.get('ESC')?.errorMessage).toContain('would leave {documents}');
    expect(items.get('OK')).toMatchObject({ status: 'succeeded', files: ['documents/OK/report.txt'] });
    expect(existsSync(path.join(ctx.dir, 'escaped.txt'))).toBe(false);
    expect((await readdir(ctx.dir)).filter((f) => f.startsWith('escaped'))).toEqual([]);
    expect(await readdir(path.join(started.outputDir, 'documents'))).toEqual(['OK']);
  });

  it('lets a value start with "-" after a literal "--", or for a field named in allowOptionValues', async () => {
    const batchId = `values-operand-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'D1', f: '-rf' }]);
    const started = await ctx.batches.start(
      csv,
      ctx.config({
        batchId,
        idColumn: 'id',
        processor: 'command',
        // After "--", touch takes "-rf" as a file name.
        command: { argv: ['touch', '--', '{f}'], cwd: '{documents}', timeoutMs: 10_000 },
      }),
    );
    expect(await finalProgress(started.handle)).toMatchObject({ succeeded: 1 });
    expect(await readdir(path.join(started.outputDir, 'documents', safeKey('D1')))).toEqual(['-rf']);

    const optId = `values-optin-${Date.now()}`;
    const csv2 = await writeCsv(ctx.dir, `${optId}.csv`, [{ id: 'O1', flag: '-n' }]);
    const opted = await ctx.batches.start(
      csv2,
      ctx.config({
        batchId: optId,
        idColumn: 'id',
        processor: 'command',
        command: { argv: 'echo {flag} hi', allowOptionValues: 'flag', timeoutMs: 10_000 },
      }),
    );
    expect(await finalProgress(opted.handle)).toMatchObject({ succeeded: 1 });
    // echo read -n as its option: "hi" without the flag (and without a newline).
    expect((await readItems(opted.outputDir))[0]).toMatchObject({ status: 'succeeded', output: 'hi' });
  });

  it('sends …/ok/{v}/details only with the intended path: "." and ".." fail and reach nothing', async () => {
    const recorder = await startHeaderRecorder();
    closers.push(() => recorder.close());
    const batchId = `values-url-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [
      { id: 'U1', v: 'a' },
      { id: 'U2', v: '..' },
      { id: 'U3', v: '.' },
      { id: 'U4', v: '../x' },
    ]);
    const started = await ctx.batches.start(
      csv,
      ctx.config({ batchId, idColumn: 'id', http: { url: `${recorder.url}/ok/{v}/details`, method: 'GET' } }),
    );
    expect(await finalProgress(started.handle)).toMatchObject({ succeeded: 2, failed: 2 });
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    for (const k of ['U2', 'U3']) {
      expect(items.get(k)).toMatchObject({ status: 'failed', attempts: 1, errorType: 'InputError' });
      expect(items.get(k)?.errorMessage).toContain('would change its path');
    }
    // What the target received: the intended paths only, never /details or /ok/details.
    expect(recorder.requests.map((r) => r.path).sort()).toEqual(['/ok/..%2Fx/details', '/ok/a/details']);
  });
});

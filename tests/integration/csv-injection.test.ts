// CSV injection end to end: item values and a target's error message that look like spreadsheet
// formulas reach results.csv and failed.csv neutralised (a leading '), negative numbers untouched;
// `--csv-formulas` (the csvFormulas setting, carried by the batch's input) keeps them raw.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import { readItems } from '../helpers/engine';
import { writeCsv } from '../helpers/files';

describe('results.csv and failed.csv neutralise formula cells', () => {
  let ctx: TestContext;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    ctx = await createTestContext('csv-injection');
    // A target whose error answer is itself a formula.
    server = createServer((_, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('=HYPERLINK("http://evil.example/","click")');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await ctx?.close();
  });

  async function run(name: string, extra: string[]) {
    const csv = await writeCsv(ctx.dir, `${name}.csv`, [
      { id: '=1+2', amount: -5, note: '@SUM(A1:A2)' },
      { id: '+cmd', amount: -12.5, note: 'plain' },
    ]);
    const out = path.join(ctx.dir, `${name}-out`);
    const res = await runCli(
      [
        'run',
        csv,
        '--url',
        `${url}/x`,
        '--id-column',
        'id',
        '--task-queue',
        `${ctx.taskQueue}-${name}`,
      ].concat(['--output-dir', out, '--batch-id', `${name}-${Date.now()}`], extra),
      { env: { DURABATCH_HOME: path.join(ctx.dir, 'home'), TEMPORAL_ADDRESS: ctx.address }, cwd: ctx.dir },
    );
    expect(res.code, res.stderr).toBe(1);
    const read = async (f: string) =>
      parse<Record<string, string>>(await readFile(path.join(out, 'results', f), 'utf8'), { columns: true });
    return {
      items: await readItems(out),
      results: await read('results.csv'),
      failed: await read('failed.csv'),
    };
  }

  it('by default: keys, values and the error message get a leading quote; -5 and -12.5 stay numbers', async () => {
    const { items, results, failed } = await run('neutral', []);
    // items.jsonl is data for programs: unchanged.
    expect(items.map((i) => i.key).sort()).toEqual(['+cmd', '=1+2']);
    expect(results.map((r) => r.key).sort()).toEqual(["'+cmd", "'=1+2"]);
    // The target's formula sits inside the message, after the request line: a cell that starts as text.
    for (const r of results)
      expect(r.errorMessage).toMatch(/^POST \S+ answered 400 Bad Request: =HYPERLINK\(/);
    expect(failed.map((r) => [r.id, r.amount, r.note]).sort()).toEqual([
      ["'+cmd", '-12.5', 'plain'],
      ["'=1+2", '-5', "'@SUM(A1:A2)"],
    ]);
    for (const cell of [...results, ...failed].flatMap((r) => Object.values(r)))
      expect(cell).not.toMatch(/^[=+@\t\r]|^-(?!\d)/);
  });

  it('--csv-formulas keeps every cell as it is', async () => {
    const { results, failed } = await run('raw', ['--csv-formulas']);
    expect(results.map((r) => r.key).sort()).toEqual(['+cmd', '=1+2']);
    expect(failed.map((r) => [r.id, r.note]).sort()).toEqual([
      ['+cmd', 'plain'],
      ['=1+2', '@SUM(A1:A2)'],
    ]);
  });
});

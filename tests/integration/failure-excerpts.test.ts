// Failure messages in the report files sit on one line and end at a word: a target answering a
// multi-line error page, or a program printing a multi-line stderr, gives items.jsonl, results.csv
// and failed.csv one-line errorMessage cells (a cell spanning lines breaks every line-based tool).
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema';
import { createTestContext, type TestContext } from '../helpers/context';
import { batchEnd, readItems } from '../helpers/engine';
import { writeCsv } from '../helpers/files';

const WORDS = Array.from({ length: 200 }, (_, i) => `reason${i}`);
/** A multi-line error page far longer than any excerpt. */
const PAGE = `Validation failed\n\n  field:\tbirthDate\r\n  detail: ${WORDS.join(' ')}\n`;

describe('failure messages in reports: one line, cut at a word', () => {
  let ctx: TestContext;
  let server: Server;
  let url: string;
  let okServer: Server;
  let ok: string;

  beforeAll(async () => {
    ctx = await createTestContext('failure-excerpts');
    await ctx.startWorker();
    server = createServer((_, res) => {
      res.writeHead(422, { 'content-type': 'text/plain' });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    okServer = createServer((_, res) => res.end('{}'));
    await new Promise<void>((resolve) => okServer.listen(0, '127.0.0.1', resolve));
    ok = `http://127.0.0.1:${(okServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await new Promise((resolve) => okServer?.close(resolve));
    await ctx?.close();
  });

  async function failedMessage(name: string, overrides: ConfigInput): Promise<string> {
    const batchId = `${name}-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'K1', n: 1 }]);
    const started = await ctx.batches.start(
      csv,
      ctx.config({ batchId, idColumn: 'id', maxAttempts: 1, ...overrides }),
    );
    const end = await batchEnd(started.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: { status: 'failed', failed: 1 } });
    const [item] = await readItems(started.outputDir);
    const results = await readFile(path.join(started.outputDir, 'results', 'results.csv'), 'utf8');
    const failed = await readFile(path.join(started.outputDir, 'results', 'failed.csv'), 'utf8');
    // One record per line in both files: no cell spans lines.
    expect(results.trimEnd().split('\n')).toHaveLength(2);
    expect(failed.trimEnd().split('\n')).toHaveLength(2);
    const [row] = parse<Record<string, string>>(results, { columns: true });
    const [failedRow] = parse<Record<string, string>>(failed, { columns: true });
    expect(row!.errorMessage).toBe(item!.errorMessage);
    expect(failedRow!._error_message).toBe(item!.errorMessage);
    return item!.errorMessage!;
  }

  /** One line, ends with … right after a whole word of the page. */
  function expectOneLineAtWord(msg: string) {
    expect(msg).not.toMatch(/[\r\n\t]/);
    expect(msg).toMatch(/ reason\d+…$/);
    const last = /(reason\d+)…$/.exec(msg)![1]!;
    expect(WORDS).toContain(last);
    expect(msg.length).toBeLessThanOrEqual(501);
  }

  it('http: a 422 with a multi-line error page', async () => {
    const msg = await failedMessage('excerpt-http', { http: { url: `${url}/items` } });
    expect(msg).toMatch(
      /answered 422 Unprocessable Entity: Validation failed field: birthDate detail: reason0 /,
    );
    expectOneLineAtWord(msg);
  });

  it("an invalid row's reason that spans lines (a schema pattern holding a line break)", async () => {
    const batchId = `excerpt-invalid-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [
      { id: 'K1', status: 'a' },
      { id: 'K2', status: 'zzz' },
    ]);
    const started = await ctx.batches.start(
      csv,
      ctx.config({
        batchId,
        idColumn: 'id',
        // The reason quotes the pattern: "does not match /^(a|\n)$/", a line break inside.
        schema: { fields: { status: { pattern: '^(a|\n)$' } } },
        http: { url: `${ok}/items` },
      }),
    );
    const end = await batchEnd(started.handle);
    expect(end).toMatchObject({ kind: 'returned', progress: { succeeded: 1, skipped: 1 } });
    const items = await readItems(started.outputDir);
    const skipped = items.find((i) => i.key === 'K2')!;
    expect(skipped).toMatchObject({ status: 'skipped', errorType: 'InvalidItem' });
    expect(skipped.errorMessage).toContain('does not match /^(a| )$/');
    const results = await readFile(path.join(started.outputDir, 'results', 'results.csv'), 'utf8');
    expect(results.trimEnd().split('\n')).toHaveLength(3);
  });

  it('command: a program printing a multi-line stderr', async () => {
    const script = `printf '%s' "$0" >&2; exit 2`;
    const msg = await failedMessage('excerpt-cmd', {
      processor: 'command',
      command: { argv: ['sh', '-c', script, PAGE] },
    });
    expect(msg).not.toMatch(/[\r\n\t]/);
    expect(msg).toMatch(/^command sh /);
    expect(msg.length).toBeLessThanOrEqual(501);
  });
});

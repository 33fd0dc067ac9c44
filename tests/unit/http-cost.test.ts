// `costFrom`: the item's cost read from a successful http answer, by JSON pointer or header.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHttp } from '../../activities/processors/http';
import { Config } from '../../src/config/schema';
import type { HttpProcessorSpec } from '../../workflows/types';
import { processorContext } from '../helpers/processor-context';

let server: Server;
let base: string;

beforeAll(async () => {
  // Answers with the cost the query asks for, in the body and in a header.
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const cost = url.searchParams.get('cost') ?? '';
    res
      .writeHead(200, { 'content-type': 'application/json', 'x-cost': cost })
      .end(JSON.stringify({ usage: { 'cost/item': cost === '' ? null : Number(cost) }, items: [{ c: 7 }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const warnings: string[] = [];
const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });

async function costFor(costFrom: string, cost: string): Promise<number | undefined> {
  const spec: HttpProcessorSpec = {
    type: 'http',
    url: `${base}/?cost=${cost}`,
    method: 'GET',
    headers: {},
    timeoutMs: 5_000,
    costFrom,
  };
  const out = await runHttp(spec, processorContext({ log }));
  return out.cost;
}

describe('http costFrom', () => {
  it('reads a JSON pointer into the body (with ~1 for a slash in a name) and array indexes', async () => {
    expect(await costFor('/usage/cost~1item', '2.5')).toBe(2.5);
    expect(await costFor('/items/0/c', '1')).toBe(7);
  });

  it('reads a header', async () => {
    expect(await costFor('header:X-Cost', '0.75')).toBe(0.75);
  });

  it('a missing or non-numeric cost leaves it to the batch setting, with a warning naming costFrom', async () => {
    warnings.length = 0;
    expect(await costFor('/usage/cost~1item', '')).toBeUndefined();
    expect(await costFor('header:X-Cost', 'abc')).toBeUndefined();
    expect(await costFor('/nothing/here', '1')).toBeUndefined();
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toContain('costFrom /usage/cost~1item: the answer holds no cost there');
  });

  it('config refuses a value that is neither a pointer nor header:<name>, saying what is allowed', () => {
    const r = Config.safeParse({ http: { url: 'http://x', costFrom: 'usage.cost' } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(
      'must be a JSON pointer into the body (e.g. /usage/cost) or header:<name>',
    );
    expect(Config.parse({ http: { url: 'http://x', costFrom: 'header:X-Cost' } }).http?.costFrom).toBe(
      'header:X-Cost',
    );
  });
});

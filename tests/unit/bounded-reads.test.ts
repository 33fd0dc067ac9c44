// Every body or file read from outside is bounded: an endless body, a huge file or a FIFO named where
// a file is expected stops with an error naming the input and the limit, at once, instead of taking
// the process's memory or hanging it. One test per place that reads one.
import { execFileSync } from 'node:child_process';
import { mkdtemp, truncate, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHttp } from '../../activities/processors/http';
import { loadKeyRing } from '../../src/codec/keys';
import { schemaText } from '../../src/cli/flag-values';
import { loadConfig, MAX_CONFIG_FILE_BYTES } from '../../src/config/load';
import { readKeyedJsonObject } from '../../src/source/formats/json-keyed';
import { Selection } from '../../src/source/select';
import { loadEffects } from '../../src/verify/effects';
import { processorContext } from '../helpers/processor-context';

let dir: string;
let fifo: string;
let server: http.Server;
let base: string;
/** Bytes the endless answer wrote, and whether the client closed the connection. */
const endless = { written: 0, closed: false };

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bounded-'));
  fifo = path.join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  server = http.createServer((req, res) => {
    if (req.url === '/endless') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const line = Buffer.from('b:K1\n'.repeat(1000));
      const pump = () => {
        while (!res.destroyed && res.write(line)) endless.written += line.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => (endless.closed = true));
      pump();
    } else if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) });
      res.write('b:K1\n'); // and nothing more: the declared length alone is refused
    } else if (req.url === '/silent') {
      // Never answers.
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('verify --effects', () => {
  it('an endless ledger body stops at the cap: the connection is closed, the limit named', async () => {
    const err = await rejection(loadEffects(`${base}/endless`, { maxBytes: 1024 * 1024 }));
    expect(err.name).toBe('InputError');
    expect(err.message).toContain(`the effects ledger ${base}/endless is larger than 1 MiB`);
    expect(err.message).toContain('fix:');
    await new Promise((r) => setTimeout(r, 100));
    expect(endless.closed).toBe(true);
    // Socket buffers hold a little more than was read; never the endless rest.
    expect(endless.written).toBeLessThan(16 * 1024 * 1024);
  });

  it('a declared length past the cap is refused before the body is read', async () => {
    const err = await rejection(loadEffects(`${base}/declared`, { maxBytes: 1024 * 1024 }));
    expect(err.message).toContain('is larger than 1 MiB');
  });

  it('a ledger URL that never answers times out, naming the wait', async () => {
    const err = await rejection(loadEffects(`${base}/silent`, { timeoutMs: 300 }));
    expect(err.message).toContain(`the effects ledger ${base}/silent did not arrive within 0.3 s`);
  });

  it('a FIFO or an oversized file is refused without reading it', async () => {
    const fifoErr = await rejection(loadEffects(fifo));
    expect(fifoErr.message).toContain(`the effects ledger ${fifo} is not a regular file`);
    const big = path.join(dir, 'ledger.txt');
    await writeFile(big, 'b:K1\n');
    await truncate(big, 2 * 1024 * 1024);
    const bigErr = await rejection(loadEffects(big, { maxBytes: 1024 * 1024 }));
    expect(bigErr.message).toContain(`the effects ledger ${big} is larger than 1 MiB`);
    // Within the cap it still reads.
    await writeFile(big, 'b:K1\n');
    expect(await loadEffects(big, { maxBytes: 1024 * 1024 })).toEqual([
      { idempotencyKey: 'b:K1', effects: 1 },
    ]);
  });
});

describe('files named by the user', () => {
  it('--config: a FIFO and a file past 16 MiB are refused', async () => {
    expect((await rejection(loadConfig({ file: fifo, env: {} }))).message).toContain(
      `config file ${fifo} is not a regular file`,
    );
    const big = path.join(dir, 'big.json');
    await writeFile(big, '{}');
    await truncate(big, MAX_CONFIG_FILE_BYTES + 1);
    expect((await rejection(loadConfig({ file: big, env: {} }))).message).toContain(
      `config file ${big} is larger than 16 MiB`,
    );
  });

  it('--schema: a FIFO is refused', async () => {
    expect((await rejection(schemaText(fifo))).message).toContain(
      `--schema file ${fifo} is not a regular file`,
    );
  });

  it('--keys: a file past 64 MiB is refused before it is read', async () => {
    const big = path.join(dir, 'keys.txt');
    await writeFile(big, 'K1\n');
    await truncate(big, 64 * 1024 * 1024 + 1);
    expect((await rejection(Selection.from({ keys: big }))).message).toContain(
      `--keys file ${big} is larger than 64 MiB`,
    );
  });

  it('a keyed JSON metadata file: a FIFO is refused before it is opened', async () => {
    const rows = readKeyedJsonObject(fifo, 'file');
    expect((await rejection(rows.next())).message).toContain(`metadata ${fifo} is not a regular file`);
  });

  it('DURABATCH_CODEC_KEY_FILE: a FIFO is refused instead of blocking the process', () => {
    expect(() => loadKeyRing({ DURABATCH_CODEC_KEY_FILE: fifo })).toThrow(
      `DURABATCH_CODEC_KEY_FILE ${fifo} is not a regular file`,
    );
  });

  it('http.ca on the worker: a FIFO fails the item as InputError, not retried, nothing sent', async () => {
    const err = await rejection(
      runHttp(
        {
          type: 'http',
          url: `${base}/silent`,
          method: 'GET',
          headers: {},
          timeoutMs: 5_000,
          tls: { ca: fifo },
        },
        processorContext({}),
      ),
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('InputError');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect(err.message).toContain(`http.ca ${fifo} is not a regular file`);
  });
});

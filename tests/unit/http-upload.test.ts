// File uploads of the http processor (bodyMode raw and multipart) against a real local server: the
// multipart bytes are the ones undici's FormData produced before, bodies carry a Content-Length, an
// aborted upload closes its file, a file that changes mid-upload fails retryably, and a redirect
// fails at once.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, truncate, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { pino } from 'pino';
import { FormData, Request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHttp } from '../../activities/processors/http';
import { multipartFrame, type FormSpec } from '../../activities/processors/upload-body';
import type { HttpProcessorSpec } from '../../workflows/types';
import { rejection } from '../helpers/rejection';

interface Received {
  headers: IncomingMessage['headers'];
  body: Buffer;
}

let dir: string;
let server: Server;
let base: string;
const received: Received[] = [];
/** Set by a test to take over the next request (e.g. to stall or redirect it). */
let handler: ((req: IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'http-upload-'));
  server = createServer((req, res) => {
    req.on('error', () => undefined); // the client aborting mid-body is expected here
    if (handler) return handler(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"id":"up_1"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const spec = (bodyMode: 'raw' | 'multipart', url = `${base}/upload`): HttpProcessorSpec => ({
  type: 'http',
  url,
  method: 'POST',
  headers: {},
  bodyMode,
  fileField: 'document',
  timeoutMs: 60_000,
});

/** `within`: the directory the item was staged from (every directory item has it); null for a CSV row. */
function makeCtx(data: Record<string, unknown>, key = 'scan.pdf', within: string | null = dir) {
  const controller = new AbortController();
  // Not annotated: a plain object stays assignable while ProcessorContext gains fields.
  return {
    batchId: 'batch-1',
    item: { index: 0, key, line: 1, data, ...(within === null ? {} : { within }) },
    idempotencyKey: `batch-1:${key}`,
    attempt: 1,
    signal: controller.signal,
    controller,
    heartbeat: () => undefined,
    lastHeartbeatDetails: undefined,
    steps: {},
    outputDir: dir,
    stopGraceMs: 2_000,
    env: {},
    log: pino({ level: 'silent' }),
  };
}

/** How many descriptors this process has open on `file`. */
const openFds = (file: string): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false; // closed while listing
    }
  }).length;

/** Bytes this process has read through read() calls so far (files and sockets). */
const bytesRead = (): number => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

/** Waits (up to 10 s) until `file` has no open descriptor; returns how many are still open. */
async function fdsAfterClosing(file: string): Promise<number> {
  for (let i = 0; i < 1_000 && openFds(file) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  return openFds(file);
}

/** The next request reads `bytes` of the body, then stops reading; resolves with the request. */
function stallAfter(bytes: number): Promise<IncomingMessage> {
  return new Promise((resolve) => {
    handler = (req) => {
      handler = undefined;
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
        if (n >= bytes && !req.isPaused()) {
          req.pause();
          resolve(req);
        }
      });
    };
  });
}

describe('http uploads', () => {
  it('frames multipart bodies byte for byte as undici FormData did', async () => {
    const form: FormSpec = {
      fields: [
        ['title', 'Say "hi"\nbye\r\nend\rx'],
        ['na"me\r\n', 'Überblick, Teil 1'],
        ['empty', ''],
      ],
      fileField: 'doc"ument',
      fileName: 'scan "1"\n.pdf',
    };
    const bytes = randomBytes(1000);
    const fd = new FormData();
    for (const [k, v] of form.fields) fd.append(k, v);
    fd.append(form.fileField, new Blob([bytes]), form.fileName);
    const req = new Request('http://x/', { method: 'POST', body: fd });
    const boundary = /boundary=(.+)$/.exec(req.headers.get('content-type')!)![1]!;
    const undiciBytes = Buffer.from(await req.arrayBuffer());

    const { head, tail } = multipartFrame(form, boundary);
    expect(Buffer.concat([head, bytes, tail]).equals(undiciBytes)).toBe(true);
  });

  it('sends raw and multipart uploads with a Content-Length and exactly the expected bytes', async () => {
    const bytes = randomBytes(3_000_000);
    const file = path.join(dir, 'scan.pdf');
    await writeFile(file, bytes);
    received.length = 0;

    const raw = await runHttp(spec('raw'), makeCtx({ path: file, file: 'in/scan.pdf' }));
    expect(raw).toMatchObject({ httpStatus: 201, body: { id: 'up_1' } });
    const data = { path: file, file: 'in/scan.pdf', title: 'Scan', pages: 3 };
    const multi = await runHttp(spec('multipart'), makeCtx(data));
    expect(multi).toMatchObject({ httpStatus: 201, body: { id: 'up_1' } });

    const [r, m] = received;
    expect(r!.headers['content-type']).toBe('application/octet-stream');
    expect(r!.headers['content-length']).toBe(String(bytes.length));
    expect(r!.headers['transfer-encoding']).toBeUndefined();
    expect(r!.body.equals(bytes)).toBe(true);

    const boundary = /^multipart\/form-data; boundary=(.+)$/.exec(m!.headers['content-type']!)![1]!;
    const { head, tail } = multipartFrame(
      {
        fields: [
          ['file', 'in/scan.pdf'],
          ['title', 'Scan'],
          ['pages', '3'],
        ],
        fileField: 'document',
        fileName: 'scan.pdf',
      },
      boundary,
    );
    const expected = Buffer.concat([head, bytes, tail]);
    expect(m!.headers['content-length']).toBe(String(expected.length));
    expect(m!.headers['transfer-encoding']).toBeUndefined();
    expect(m!.body.equals(expected)).toBe(true);
    expect(openFds(file)).toBe(0);
  });

  it('stops reading and closes the file when the item is cancelled mid-upload', async () => {
    const file = path.join(dir, 'big-cancel.bin');
    await writeFile(file, Buffer.alloc(64 * 1024 * 1024));
    const ctx = makeCtx({ path: file, file: 'big-cancel.bin' });
    const stalled = stallAfter(1024 * 1024);
    const running = runHttp(spec('multipart'), ctx);
    running.catch(() => undefined); // awaited below; it may settle earlier
    await stalled;
    expect(openFds(file)).toBe(1); // mid-upload: the file is open
    const reason = new Error('item cancelled');
    const readBefore = bytesRead();
    ctx.controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    expect(await fdsAfterClosing(file)).toBe(0);
    // Not read on to its end before closing (a Blob from openAsBlob read all 64 MB first).
    expect(bytesRead() - readBefore).toBeLessThan(8 * 1024 * 1024);
  });

  it('fails retryably (FileChanged) when the file shrinks during the upload, and closes it', async () => {
    const file = path.join(dir, 'big-shrink.bin');
    await writeFile(file, Buffer.alloc(32 * 1024 * 1024));
    const stalled = stallAfter(1024 * 1024);
    const running = runHttp(spec('raw'), makeCtx({ path: file, file: 'big-shrink.bin' }));
    // It may fail before the test gets to await it: not an unhandled rejection.
    running.catch(() => undefined);
    const req = await stalled;
    await truncate(file, 0);
    req.resume();
    const err = await rejection(running, ApplicationFailure);
    expect([err.type, err.nonRetryable]).toEqual(['FileChanged', false]);
    expect(err.message).toContain(`${file} changed while it was uploaded (${32 * 1024 * 1024} bytes`);
    expect(await fdsAfterClosing(file)).toBe(0);
  });

  it('does not follow a redirect with an upload: fails at once, naming the URL', async () => {
    const file = path.join(dir, 'small.bin');
    await writeFile(file, randomBytes(1000));
    handler = (req, res) => {
      handler = undefined;
      req.resume();
      res.writeHead(307, { location: `${base}/elsewhere` }).end();
    };
    const err = await rejection(
      runHttp(spec('multipart'), makeCtx({ path: file, file: 'small.bin' })),
      ApplicationFailure,
    );
    expect([err.type, err.nonRetryable]).toEqual(['PermanentTargetError', true]);
    expect(err.message).toBe(
      `POST ${base}/upload answered with a redirect; uploads do not follow redirects (the file is ` +
        'streamed once): set the url to the address the upload should go to',
    );
    expect(await fdsAfterClosing(file)).toBe(0);
  });

  it('sends no byte of a file named by a row that was not staged from a directory (a CSV "path")', async () => {
    const outside = await mkdtemp(path.join(os.tmpdir(), 'http-upload-outside-'));
    const key = path.join(outside, 'id_rsa');
    await writeFile(key, 'PRIVATE KEY');
    received.length = 0;
    for (const mode of ['raw', 'multipart'] as const) {
      // A CSV row `1,<key>`: no directory mark.
      const err = await rejection(
        runHttp(spec(mode), makeCtx({ id: '1', path: key }, '1', null)),
        ApplicationFailure,
      );
      expect([err.type, err.nonRetryable]).toEqual(['InputError', true]);
      expect(err.message).toContain(
        `item "1" has no file staged from a directory source, so bodyMode ${mode}`,
      );
      // A directory item whose "path" a columns mapping pointed elsewhere.
      const moved = await rejection(
        runHttp(spec(mode), makeCtx({ file: 'a.txt', path: key }, 'a.txt')),
        ApplicationFailure,
      );
      expect(moved.type).toBe('InputError');
      expect(moved.message).toContain(`its "path" ${key} is not in the source directory ${dir}`);
    }
    expect(received).toEqual([]);
    expect(await fdsAfterClosing(key)).toBe(0);
  });
});

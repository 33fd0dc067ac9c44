// A 1 GB upload to `durabatch serve` is streamed to disk, never held in memory: the service's peak
// resident memory rises by less than 50 MB while it receives the file, and the file on disk is
// exactly 1 GB. The body is generated chunk by chunk, so the test holds no more of it than the service.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServeProcess } from '../helpers/serve-process';

const FILE_BYTES = 1_000_000_000;
const CHUNK = randomBytes(1_000_000);
const MB = 1024 * 1024;

/** VmRSS and VmHWM (peak) of a process, in bytes. */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** POSTs a multipart body of a settings part and one generated file of `bytes` bytes, streamed. */
async function uploadGenerated(url: string, settings: unknown, name: string, bytes: number) {
  const boundary = `----durabatch${Date.now()}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="settings"\r\n\r\n${JSON.stringify(settings)}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  function* body() {
    yield head;
    for (let sent = 0; sent < bytes; sent += CHUNK.length)
      yield CHUNK.subarray(0, Math.min(CHUNK.length, bytes - sent));
    yield tail;
  }
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = request(
      `${url}/v1/batches`,
      {
        method: 'POST',
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(head.length + bytes + tail.length),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    pipeline(Readable.from(body()), req).catch(reject);
  });
}

describe('serve: a 1 GB upload is streamed, not held', () => {
  const address = inject('temporalAddress');
  const taskQueue = `api-upload-memory-${Date.now().toString(36)}`;
  let dir: string;
  let service: { child: ChildProcess; url: string };
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(inject('tmpRoot'), 'api-upload-memory-'));
    const config = path.join(dir, 'service.json');
    await writeFile(
      config,
      JSON.stringify({
        taskQueue,
        api: {
          uploadsDir: path.join(dir, 'uploads'),
          outputRoot: path.join(dir, 'output'),
          maxUploadBytes: 2 * FILE_BYTES,
          // No worker polls this queue: the batch only has to start; the test ends it.
          presets: {
            store: { processor: 'http', http: { url: 'http://127.0.0.1:9/store', bodyMode: 'raw' } },
          },
        },
      }),
    );
    service = await startServeProcess(['--config', config], {
      DURABATCH_HOME: path.join(dir, 'home'),
      TEMPORAL_ADDRESS: address,
    });
    connection = await Connection.connect({ address });
    client = new Client({ connection, namespace: 'default' });
  });
  afterAll(async () => {
    service?.child.kill('SIGTERM');
    await connection?.close();
    if (dir) await rm(path.join(dir, 'uploads'), { recursive: true, force: true });
  });

  it('keeps the service’s memory within 50 MB of where it was, and writes exactly 1 GB', async () => {
    const pid = service.child.pid!;
    // Warm up: the upload path's code loaded and run once with a small file.
    const warm = await uploadGenerated(
      service.url,
      { preset: 'store', batchId: `warm-${taskQueue}` },
      'warm.bin',
      10 * MB,
    );
    expect(warm.status, JSON.stringify(warm.body)).toBe(202);
    // The peak (VmHWM) counts from here: start-up's own peak is not the upload's.
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    const before = await memoryOf(pid);
    const batchId = `big-${taskQueue}`;
    const res = await uploadGenerated(service.url, { preset: 'store', batchId }, 'big.bin', FILE_BYTES);
    const after = await memoryOf(pid);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ batchId, total: 1 });
    const rose = after.peak - before.rss;
    expect(rose, `peak ${after.peak / MB} MB, before ${before.rss / MB} MB`).toBeLessThan(50 * MB);
    expect((await stat(path.join(dir, 'uploads', batchId, 'files', 'big.bin'))).size).toBe(FILE_BYTES);
    for (const id of [batchId, `warm-${taskQueue}`])
      await client.workflow.getHandle(id).terminate('test done');
  }, 180_000);
});

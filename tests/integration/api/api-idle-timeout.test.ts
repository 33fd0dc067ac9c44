// A request whose body stalls (slowloris) is dropped after api.idleTimeoutMs: its connection closes
// and the upload folder it was writing is removed, nothing started.
import { connect } from 'node:net';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiService, type ApiService } from '../../helpers/api-service';
import { engineHarness, type EngineHarness } from '../../helpers/harness';

describe('service: a stalled request', () => {
  let h: EngineHarness;
  let api: ApiService;
  beforeAll(async () => {
    h = await engineHarness('api-idle');
    api = await startApiService(h.ctx, {
      api: {
        idleTimeoutMs: 1_000,
        presets: { p: { processor: 'http', http: { url: 'https://a.example' } } },
      },
    });
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  it('is dropped once it sends nothing for api.idleTimeoutMs, leaving no upload behind', async () => {
    const { port } = new URL(api.url);
    const socket = connect(Number(port), '127.0.0.1');
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    const part = [
      '--b',
      'Content-Disposition: form-data; name="files"; filename="inbox/a.txt"',
      'Content-Type: text/plain',
      '',
      'the first bytes of a file that never ends',
    ].join('\r\n');
    socket.write(
      [
        'POST /v1/batches HTTP/1.1',
        'Host: 127.0.0.1',
        'Content-Type: multipart/form-data; boundary=b',
        'Content-Length: 1000000',
        '',
        part,
      ].join('\r\n'),
    );
    const sent = Date.now();
    const incoming = path.join(api.ctx.settings.uploadsDir, '.incoming');
    // The request is being received: its folder holds the file's first bytes.
    for (let i = 0; i < 50 && (await readdir(incoming).catch(() => [])).length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await readdir(incoming)).toHaveLength(1);
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
    expect(at, 'the connection stayed open').toBeGreaterThan(0);
    expect(at - sent).toBeGreaterThanOrEqual(900);
    let left = await readdir(incoming);
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await readdir(incoming);
    }
    expect(left).toEqual([]);
    socket.destroy();
  });
});

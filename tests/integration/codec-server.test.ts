// The codec server decrypts every payload for whoever reaches it: it refuses a non-loopback address
// without authorization (the CLI exits 2 naming the flag), answers only requests addressed to its
// own names (DNS rebinding: a page whose name resolves to 127.0.0.1 gets 403), and with
// authorization configured refuses a request without the exact token (401).
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Payload } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { AesGcmCodec } from '../../src/codec/aes-gcm';
import { startCodecServer, type CodecServer } from '../../src/codec/server';
import { runCli } from '../helpers/cli';

const keyB64 = randomBytes(32).toString('base64');
const codec = new AesGcmCodec({ currentId: 'k1', keys: new Map([['k1', Buffer.from(keyB64, 'base64')]]) });
const secretText = `SECRET-${randomBytes(4).toString('hex')}`;

/** An encrypted payload whose plaintext holds `secretText`. */
async function encrypted(): Promise<{ metadata: Record<string, string>; data: string }> {
  const plain: Payload = {
    metadata: { encoding: Buffer.from('json/plain') },
    data: Buffer.from(`"${secretText}"`),
  };
  const [p] = await codec.encode([plain]);
  return {
    metadata: Object.fromEntries(
      Object.entries(p!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(p!.data!).toString('base64'),
  };
}

/** POST /decode with an explicit Host header (fetch cannot set one). */
async function decode(
  server: CodecServer,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const url = new URL(`${server.url}/decode`);
  const body = JSON.stringify({ payloads: [await encrypted()] });
  return await new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Host: `localhost:${url.port}`, ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('codec server: authorization and Host', () => {
  const servers: CodecServer[] = [];
  const start = async (opts: Parameters<typeof startCodecServer>[0]) => {
    const s = await startCodecServer(opts);
    servers.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('the CLI refuses a non-loopback --host without authorization: exit 2, names the flag, no stack', async () => {
    const res = await runCli(['codec-server', '--host', '0.0.0.0', '--port', '0'], {
      env: { DURABATCH_CODEC_KEY: keyB64, DURABATCH_CODEC_AUTHORIZATION: '' },
      timeoutMs: 30_000,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--host 0.0.0.0 is not a loopback address');
    expect(res.stderr).toContain('set --authorization (or DURABATCH_CODEC_AUTHORIZATION)');
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.stdout).not.toContain('codec server on');
  });

  it('in process: a non-loopback address needs authorization (or the explicit container opt-out)', async () => {
    await expect(startCodecServer({ codec, host: '0.0.0.0', port: 0 })).rejects.toThrow(
      /--host 0.0.0.0 is not a loopback address/,
    );
    const withAuth = await start({ codec, host: '0.0.0.0', port: 0, authorization: 'Bearer t0ken' });
    expect((await decode(withAuth, { Authorization: 'Bearer t0ken' })).status).toBe(200);
    const optedOut = await start({ codec, host: '0.0.0.0', port: 0, allowUnauthenticated: true });
    expect((await decode(optedOut, {})).status).toBe(200);
  });

  it('answers only requests addressed to its own names: a foreign Host gets 403 and no plaintext', async () => {
    const server = await start({ codec, port: 0, allowedHosts: ['codec.internal'] });
    const port = new URL(server.url).port;
    const ok = await decode(server, {});
    expect(ok.status).toBe(200);
    expect(
      Buffer.from(
        (JSON.parse(ok.body) as { payloads: { data: string }[] }).payloads[0]!.data,
        'base64',
      ).toString(),
    ).toBe(`"${secretText}"`);
    for (const host of [`127.0.0.1:${port}`, `[::1]:${port}`, `codec.internal:${port}`, 'CODEC.INTERNAL']) {
      expect((await decode(server, { Host: host })).status, host).toBe(200);
    }
    for (const host of [
      `attacker.example:${port}`,
      'localhost.attacker.example',
      `127.0.0.1.nip.io:${port}`,
    ]) {
      const res = await decode(server, { Host: host });
      expect(res.status, host).toBe(403);
      expect(res.body).toContain('--allowed-host');
      expect(res.body).not.toContain(Buffer.from(secretText).toString('base64'));
    }
  });

  it('with authorization configured, a request without the exact token gets 401', async () => {
    const server = await start({ codec, port: 0, authorization: 'Bearer s3cret' });
    expect((await decode(server, {})).status).toBe(401);
    expect((await decode(server, { Authorization: 'Bearer wrong!' })).status).toBe(401);
    expect((await decode(server, { Authorization: 'Bearer s3cret-longer' })).status).toBe(401);
    const ok = await decode(server, { Authorization: 'Bearer s3cret' });
    expect(ok.status).toBe(200);
  });
});

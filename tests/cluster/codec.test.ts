// Payload encryption on the native cluster: with DURABATCH_CODEC_KEY set, the histories of a batch
// and of an item hold no plaintext of a canary row (read with the `temporal` CLI, which has no
// key), `durabatch codec-server` decodes them for the Web UI, and the UI server configured with that
// endpoint shows the canary decoded in the browser.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { startNativeCluster, type NativeCluster } from '../../scripts/cluster/native-cluster';
import { AesGcmCodec, ENCODING } from '../../src/codec/aes-gcm';
import { loadKeyRing } from '../../src/codec/keys';
import { findTemporalCli } from '../../src/server/provision';
import { freePort } from '../../src/server/ports';
import { runCli } from '../helpers/cli';
import { writeCsv } from '../helpers/files';
import { chromiumInstalled, launchChromium } from '../ui/web-ui-driver';
import { installTools, toolPaths } from './tools';

const run = promisify(execFile);
const BIN = path.resolve('bin/durabatch.js');
const key = () => randomBytes(32).toString('base64');
const utf8 = (s: string) => new TextEncoder().encode(s);

describe('AES-256-GCM payload codec', () => {
  const ring = (currentId: string, keys: Record<string, string>) => ({
    currentId,
    keys: new Map(Object.entries(keys).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  });
  const payload: Payload = {
    metadata: { encoding: utf8('json/plain') },
    data: utf8('{"name":"CANARY-123"}'),
  };

  it('round-trips a payload, hides its data and metadata, and names the key', async () => {
    const codec = new AesGcmCodec(ring('k1', { k1: key() }));
    const [enc] = await codec.encode([payload]);
    expect(Buffer.from(enc!.metadata!.encoding!).toString()).toBe(ENCODING);
    expect(Buffer.from(enc!.metadata!['encryption-key-id']!).toString()).toBe('k1');
    expect(Buffer.from(enc!.data!).toString('latin1')).not.toMatch(/CANARY|json\/plain/);
    const [dec] = await codec.decode([enc!]);
    expect(Buffer.from(dec!.data!).toString()).toBe('{"name":"CANARY-123"}');
    expect(Buffer.from(dec!.metadata!.encoding!).toString()).toBe('json/plain');
    // Not encrypted (written before encryption was turned on): passed through.
    expect(await codec.decode([payload])).toEqual([payload]);
  });

  it('rotates: the new key encrypts, the old one still decrypts; a missing key or a tampered payload fails', async () => {
    const k1 = key();
    const k2 = key();
    const [old] = await new AesGcmCodec(ring('k1', { k1 })).encode([payload]);
    const rotated = new AesGcmCodec(ring('k2', { k1, k2 }));
    const [fresh] = await rotated.encode([payload]);
    expect(Buffer.from(fresh!.metadata!['encryption-key-id']!).toString()).toBe('k2');
    expect(await rotated.decode([old!, fresh!])).toHaveLength(2);
    await expect(new AesGcmCodec(ring('k2', { k2 })).decode([old!])).rejects.toThrow(/key "k1"/);
    const tampered = { ...old!, data: Buffer.from(old!.data!).map((b, i) => (i === 20 ? b ^ 1 : b)) };
    await expect(new AesGcmCodec(ring('k1', { k1 })).decode([tampered])).rejects.toThrow();
  });

  it('reads keys from the environment, a key file or a key ring, and refuses a bad key', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'codec-keys-'));
    const k = key();
    expect(loadKeyRing({})).toBeUndefined();
    expect(loadKeyRing({ DURABATCH_CODEC_KEY: k, DURABATCH_CODEC_KEY_ID: 'a' })?.currentId).toBe('a');
    await writeFile(path.join(dir, 'one'), `${k}\n`);
    expect(loadKeyRing({ DURABATCH_CODEC_KEY_FILE: path.join(dir, 'one') })?.currentId).toBe('default');
    await writeFile(path.join(dir, 'ring.json'), JSON.stringify({ current: 'b', keys: { a: key(), b: k } }));
    const r = loadKeyRing({ DURABATCH_CODEC_KEY_FILE: path.join(dir, 'ring.json') });
    expect([r?.currentId, r?.keys.size]).toEqual(['b', 2]);
    expect(() => loadKeyRing({ DURABATCH_CODEC_KEY: 'c2hvcnQ=' })).toThrow(/32-byte key/);
    expect(() => loadKeyRing({ DURABATCH_CODEC_KEY_FILE: path.join(dir, 'missing') })).toThrow(/ENOENT/);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('payload encryption on the native cluster', () => {
  let dir: string;
  let cluster: NativeCluster;
  let target: TargetApi;
  let codecServer: ChildProcess | undefined;
  let codecUrl: string;
  let temporalCli: string;
  const KEY = key();
  const CANARY = `CANARY-${randomBytes(6).toString('hex')}`;
  const NS = 'encrypted';

  beforeAll(async () => {
    const tools = toolPaths(await installTools('all'));
    temporalCli = (await findTemporalCli({ home: path.resolve('.durabatch') })).path;
    dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-codec-test-'));
    await chmod(dir, 0o755);
    const codecPort = await freePort();
    codecUrl = `http://127.0.0.1:${codecPort}`;
    [cluster, target] = await Promise.all([
      startNativeCluster({ tools, dir: path.join(dir, 'cluster'), ui: true, codecEndpoint: codecUrl }),
      startTargetApi({ latencyMs: [1, 5] }),
    ]);
    await cluster.createNamespace(NS);
    // The codec server: allows the UI server's origin, as an operator would run it.
    codecServer = spawn(
      process.execPath,
      [BIN, 'codec-server', '--port', String(codecPort), '--cors-origin', cluster.uiUrl!],
      {
        env: { ...process.env, DURABATCH_CODEC_KEY: KEY, DURABATCH_CODEC_KEY_ID: 'test-key' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    for (let i = 0; i < 120; i++) {
      const up = await fetch(`${codecUrl}/decode`, { method: 'POST', body: '{"payloads":[]}' }).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      await sleep(250);
    }
  });

  afterAll(async () => {
    codecServer?.kill('SIGTERM');
    await target?.close();
    await cluster?.stop();
    if (dir && process.env.DURABATCH_KEEP_TEST_FILES !== 'true')
      await rm(dir, { recursive: true, force: true });
  });

  it('keeps a canary row out of the histories, and the codec server and the Web UI show it decoded', async () => {
    const shared = path.join(dir, 'shared');
    await mkdir(shared, { recursive: true });
    const csv = await writeCsv(shared, 'secret.csv', [
      { id: 'S1', name: CANARY },
      { id: 'S2', name: 'someone else' },
    ]);
    const env = {
      ...cluster.clientEnv(NS),
      DURABATCH_HOME: path.join(shared, '.durabatch'),
      DURABATCH_CODEC_KEY: KEY,
      DURABATCH_CODEC_KEY_ID: 'test-key',
    };
    const batchId = `secret-${Date.now()}`;
    const r = await runCli(
      ['run', csv, '--url', `${target.url}/patients`, '--id-column', 'id', '--batch-id', batchId],
      { env, cwd: shared, timeoutMs: 180_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    // The target received the real row: encryption covers Temporal's storage, not the work.
    expect(JSON.stringify(target.received().map((x) => x.body))).toContain(CANARY);

    // The histories, read without the key, hold ciphertext only.
    const cliEnv = { ...process.env, ...cluster.clientEnv(NS) };
    const show = async (workflowId: string) =>
      (
        await run(temporalCli, ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json'], {
          env: cliEnv,
          maxBuffer: 64 << 20,
        })
      ).stdout;
    const batchHistory = await show(batchId);
    const itemHistory = await show(`${batchId}/S1`);
    for (const h of [batchHistory, itemHistory]) {
      expect(h.length).toBeGreaterThan(1000);
      expect(h).not.toContain(CANARY);
      expect(h).toContain(Buffer.from(ENCODING).toString('base64'));
    }

    // With the key, durabatch itself reads the batch (queries and results decode).
    const status = await runCli(['status', batchId, '--json'], { env, cwd: shared });
    expect(status.code, status.stderr).toBe(0);
    // Without it, the CLI cannot decode, and says so rather than showing garbage.
    const keyless = await runCli(['status', batchId, '--json'], {
      env: { ...env, DURABATCH_CODEC_KEY: '' },
      cwd: shared,
    });
    expect(keyless.stdout).not.toContain(CANARY);

    // The codec server decodes the item's input payload from the history.
    const conn = await Connection.connect(cluster.connectionOptions());
    const raw = new Client({ connection: conn, namespace: NS });
    const history = await raw.workflow.getHandle(`${batchId}/S1`).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    expect(input.length).toBeGreaterThan(0);
    const body = {
      payloads: input.map((p) => ({
        metadata: Object.fromEntries(
          Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
        data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
      })),
    };
    const preflight = await fetch(`${codecUrl}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: cluster.uiUrl!, 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBe(cluster.uiUrl);
    const decoded = (await (
      await fetch(`${codecUrl}/decode`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json', 'X-Namespace': NS },
      })
    ).json()) as {
      payloads: { data: string }[];
    };
    expect(decoded.payloads.map((p) => Buffer.from(p.data, 'base64').toString()).join('')).toContain(CANARY);
    await conn.close();

    // The Web UI, told the codec endpoint by its server, shows the item's input decoded.
    if (!chromiumInstalled()) throw new Error('Chromium (/usr/bin/chromium) is needed for the Web UI check');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await mkdir(path.resolve('test-artifacts', 'cluster'), { recursive: true });
      const shot = path.resolve('test-artifacts', 'cluster', 'web-ui-codec.png');
      await page.goto(`${cluster.uiUrl}/namespaces/${NS}/workflows/${encodeURIComponent(`${batchId}/S1`)}`);
      try {
        await page.getByText(CANARY).first().waitFor({ timeout: 60_000 });
      } finally {
        await page.screenshot({ path: shot });
      }
    } finally {
      await browser.close();
    }
  });
});

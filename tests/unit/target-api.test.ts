import { afterEach, describe, expect, it } from 'vitest';
import {
  startTargetApi,
  type ReceivedRecord,
  type TargetApi,
  type TargetApiOptions,
} from '../../examples/target-api/server';

interface Created {
  id: string;
  receivedAt: string;
  data: unknown;
}

let api: TargetApi | undefined;

// Fault-free and near-instant unless a test asks otherwise.
async function start(opts: TargetApiOptions = {}): Promise<TargetApi> {
  api = await startTargetApi({ failureRate: 0, rateLimitRate: 0, latencyMs: [0, 2], ...opts });
  return api;
}

function post(
  target: TargetApi,
  path: string,
  body: unknown,
  key?: string,
  rawBody?: string,
): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key) headers['idempotency-key'] = key;
  return fetch(target.url + path, { method: 'POST', headers, body: rawBody ?? JSON.stringify(body) });
}

afterEach(async () => {
  await api?.close();
  api = undefined;
});

describe('example target API', () => {
  it('registers a patient with 201 and an id', async () => {
    const t = await start();
    const res = await post(t, '/patients', { patient_id: 'P00001' }, 'k-1');
    expect(res.status).toBe(201);
    const body = (await res.json()) as Created;
    expect(body.id).toMatch(/^pat_\d+$/);
    expect(body.data).toEqual({ patient_id: 'P00001' });
    expect(res.headers.get('idempotent-replayed')).toBeNull();
  });

  it('accepts any path under /api/ generically', async () => {
    const t = await start();
    const res = await post(t, '/api/orders/new', { n: 1 }, 'k-api');
    expect(res.status).toBe(201);
    expect(((await res.json()) as Created).id).toMatch(/^obj_\d+$/);
  });

  it('replays the cached response for a repeated Idempotency-Key without a second effect', async () => {
    const t = await start();
    const first = (await (await post(t, '/patients', { a: 1 }, 'same')).json()) as Created;
    const again = await post(t, '/patients', { a: 1 }, 'same');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as Created).id).toBe(first.id);

    const [rec] = t.received();
    expect(rec).toMatchObject({ idempotencyKey: 'same', effects: 1, attempts: 2, lastStatus: 201 });
    expect(t.stats()).toMatchObject({ requests: 2, effects: 1, distinctKeys: 1 });
  });

  it('performs the effect once for concurrent requests with the same key', async () => {
    const t = await start({ latencyMs: [5, 20] });
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => post(t, '/patients', { c: 1 }, 'race')),
    );
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as Created).id));
    expect(new Set(ids).size).toBe(1);
    expect(t.received()[0]).toMatchObject({ effects: 1, attempts: 8 });
  });

  it('fails the first N attempts per key with 503 when failFirstAttempts is set', async () => {
    const t = await start({ failFirstAttempts: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(t, '/patients', { x: 1 }, 'flaky')).status);
    expect(statuses).toEqual([503, 503, 201]);
    expect(t.received()[0]).toMatchObject({ attempts: 3, effects: 1, lastStatus: 201 });
    expect(t.stats().byStatus).toEqual({ '503': 2, '201': 1 });
  });

  it('answers 429 with Retry-After and records no effect', async () => {
    const t = await start({ rateLimitRate: 1, retryAfterSeconds: 3 });
    const res = await post(t, '/patients', { x: 1 }, 'limited');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(t.received()[0]).toMatchObject({ attempts: 1, effects: 0, lastStatus: 429, body: null });
  });

  it('produces the same fault sequence for the same seed', async () => {
    const run = async (): Promise<number[]> => {
      const t = await startTargetApi({ failureRate: 0.4, rateLimitRate: 0.2, latencyMs: [0, 0], seed: 9 });
      try {
        const out: number[] = [];
        for (let i = 0; i < 20; i++) out.push((await post(t, '/patients', {}, `s-${i}`)).status);
        return out;
      } finally {
        await t.close();
      }
    };
    const a = await run();
    expect(a).toEqual(await run());
    expect(new Set(a)).toEqual(new Set([201, 503, 429]));
  });

  it('rejects requests without an Idempotency-Key, invalid JSON and unknown paths', async () => {
    const t = await start();
    const noKey = await post(t, '/patients', { x: 1 });
    expect(noKey.status).toBe(400);
    expect(await noKey.json()).toEqual({ error: 'Idempotency-Key header is required' });

    expect((await post(t, '/patients', undefined, 'bad-json', '{not json')).status).toBe(400);
    expect((await post(t, '/nope', { x: 1 }, 'k')).status).toBe(404);
    expect((await fetch(`${t.url}/patients`)).status).toBe(405);
    expect(t.stats().effects).toBe(0);
  });

  it('exposes what it received on GET /_received and health on GET /_health', async () => {
    const t = await start();
    await post(t, '/patients', { name: 'Zéra' }, 'seen');
    await post(t, '/patients', { name: 'Zéra' }, 'seen');

    const health = await fetch(`${t.url}/_health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });

    const res = await fetch(`${t.url}/_received`);
    const body = (await res.json()) as { stats: ReturnType<TargetApi['stats']>; records: ReceivedRecord[] };
    expect(body.stats).toEqual({
      requests: 2,
      byStatus: { '201': 2 },
      effects: 1,
      distinctKeys: 1,
      hung: 0,
      inFlight: 0,
      maxInFlight: 1,
      abandoned: 0,
      lastAbandonedAt: null,
    });
    expect(body.records).toHaveLength(1);
    expect(body.records[0]).toMatchObject({
      idempotencyKey: 'seen',
      method: 'POST',
      path: '/patients',
      body: { name: 'Zéra' },
      attempts: 2,
      effects: 1,
    });
  });

  it('takes no effect for a request whose client hangs up before the answer', async () => {
    const t = await start();
    const controller = new AbortController();
    const sent = fetch(`${t.url}/api/items?delayMs=5000`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'gone' },
      body: '{}',
      signal: controller.signal,
    });
    await new Promise((r) => setTimeout(r, 200));
    controller.abort();
    await expect(sent).rejects.toThrow();
    await expect.poll(() => t.stats().abandoned).toBe(1);
    expect(t.stats()).toMatchObject({ effects: 0, inFlight: 0 });
  });

  it('closes promptly even with keep-alive connections open', async () => {
    const t = await start();
    await post(t, '/patients', {}, 'ka');
    const started = Date.now();
    await t.close();
    expect(Date.now() - started).toBeLessThan(1000);
    api = undefined;
  });
});

// The service's status cache (src/api/context.ts): concurrent callers share one answer; for a second
// statusCacheMs after it expires the last answer is given while one refresh runs (so pollers never
// wait for a round trip); past twice statusCacheMs a caller gets a fresh answer, never an older one;
// a caller that asks for a fresh answer gets one at once.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRows, liveProgress, waitFor } from '../../helpers/engine';
import { engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';

const TTL = 500;

describe('service: the status cache', () => {
  let h: EngineHarness;
  let api: ApiService;
  const cleanup: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    h = await engineHarness('api-status-cache');
    api = await startApiService(h.ctx, { api: { statusCacheMs: TTL } });
  });
  afterAll(async () => {
    for (const fn of cleanup) await fn().catch(() => undefined);
    await api?.close();
    await h?.close();
  });

  it('shares answers, serves the last one while refreshing, and never one older than 2 × statusCacheMs', async () => {
    // Items that stay in flight, so the batch is running throughout.
    const b = await h.start(
      'api-status-cache',
      controlRows(2, () => ({ delayMs: 20_000 })),
      { concurrency: 2 },
    );
    cleanup.push(() => b.handle.cancel());
    await waitFor('items in flight', async () => (await liveProgress(b.handle)).running === 2);

    const t0 = Date.now();
    const first = await Promise.all(Array.from({ length: 20 }, () => api.ctx.progress(b.batchId)));
    expect(new Set(first).size).toBe(1); // one query for twenty callers
    expect(first[0]).toMatchObject({ batchId: b.batchId, status: 'running', running: 2 });

    // Expired, but younger than 2 × TTL: the same answer at once, while a refresh starts.
    await sleep(Math.max(0, t0 + TTL + 150 - Date.now()));
    expect(await api.ctx.progress(b.batchId)).toBe(first[0]);
    // The refresh lands and replaces it.
    const refreshed = await waitFor('the refreshed answer', async () => {
      const p = await api.ctx.progress(b.batchId);
      return p !== first[0] ? p : undefined;
    });
    expect(refreshed).toMatchObject({ batchId: b.batchId, status: 'running' });

    // Nobody asked for 2 × TTL: the next caller waits for a fresh answer rather than get that one.
    await sleep(2 * TTL + 200);
    const later = await api.ctx.progress(b.batchId);
    expect(later).not.toBe(refreshed);
    expect(later).toMatchObject({ batchId: b.batchId, status: 'running', running: 2 });

    // `fresh`: a new answer even inside the window, which the next callers then share.
    const fresh = api.ctx.progress(b.batchId, { fresh: true });
    const shared = api.ctx.progress(b.batchId);
    expect(await fresh).not.toBe(later);
    expect(await shared).toBe(await fresh);
  });
});

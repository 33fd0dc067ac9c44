// The items view: exact states of a batch with succeeded, failed, cancelled, skipped, running and
// pending items; cursor pages that return every item exactly once; the status filter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchEnd, controlRows, key, readSummary, waitFor } from '../../helpers/engine';
import { engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';

interface Row {
  key: string;
  index: number;
  state: string;
  attempts: number;
  error?: string;
  errorType?: string;
  startedAt?: string;
  endedAt?: string;
  latencyMs?: number;
  outputFiles: string[];
}
type Page = { items: Row[]; nextCursor: string | null };

describe('service: a batch’s items', () => {
  let h: EngineHarness;
  let api: ApiService;
  beforeAll(async () => {
    h = await engineHarness('api-items');
    api = await startApiService(h.ctx, {}, { reader: ['read'] });
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  const items = async (batchId: string, query = '') => {
    const res = await api.call<Page>('GET', `/v1/batches/${batchId}/items${query}`, {
      token: api.tokens.reader,
    });
    expect(res.status, res.text).toBe(200);
    return res.body;
  };
  const states = (rows: Row[]) => rows.map((r) => `${r.key}:${r.state}`);

  it('gives each item its exact state, in pages and by status', async () => {
    // Two slots: K0004 and K0005 hold them for long once K0001..K0003 are done.
    const rows = controlRows(12, (i) =>
      i === 1 ? { status: 400 } : i === 3 || i === 4 ? { delayMs: 60_000 } : {},
    );
    const b = await h.start('items', rows, { concurrency: 2, maxAttempts: 1 });
    await waitFor('K0004 and K0005 running, the first three ended', async () => {
      const page = await items(b.batchId, '?limit=5');
      return states(page.items).join(' ') ===
        'K0001:succeeded K0002:failed K0003:succeeded K0004:running K0005:running'
        ? page
        : undefined;
    });
    await h.ctx.batches.pause(b.batchId);
    expect(await h.ctx.batches.cancelItem(b.batchId, key(3))).toMatchObject({ action: 'cancelling' });
    expect(await h.ctx.batches.cancelItem(b.batchId, key(10))).toMatchObject({ action: 'skipped' });
    await waitFor('K0004 cancelled', async () =>
      (await items(b.batchId, '?status=cancelled')).items.length === 1 ? true : undefined,
    );

    const expected = [
      'K0001:succeeded',
      'K0002:failed',
      'K0003:succeeded',
      'K0004:cancelled',
      'K0005:running',
      'K0006:pending',
      'K0007:pending',
      'K0008:pending',
      'K0009:pending',
      'K0010:pending',
      'K0011:skipped',
      'K0012:pending',
    ];
    // Pages of 5: every item exactly once, in order.
    const seen: Row[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const page = await items(b.batchId, `?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    }
    expect(pages).toBe(3);
    expect(states(seen)).toEqual(expected);
    expect(seen.map((r) => r.index)).toEqual([...Array(12).keys()]);

    const byKey = Object.fromEntries(seen.map((r) => [r.key, r]));
    expect(byKey.K0001).toMatchObject({ attempts: 1, outputFiles: [] });
    expect(byKey.K0001!.latencyMs).toBeGreaterThan(0);
    expect(byKey.K0001!.endedAt).toEqual(expect.any(String));
    expect(byKey.K0002).toMatchObject({ attempts: 1, errorType: 'PermanentTargetError' });
    expect(byKey.K0002!.error).toMatch(/400/);
    expect(byKey.K0005).toMatchObject({ attempts: 1 });
    expect(Date.parse(byKey.K0005!.startedAt!)).toBeGreaterThan(Date.parse(byKey.K0001!.startedAt!));
    expect(byKey.K0005!.endedAt).toBeUndefined();
    expect(byKey.K0006).toEqual({ key: 'K0006', index: 5, state: 'pending', attempts: 0, outputFiles: [] });

    expect(states((await items(b.batchId, '?status=pending')).items)).toEqual(
      expected.filter((s) => s.endsWith(':pending')),
    );
    expect(states((await items(b.batchId, '?status=failed,cancelled,skipped')).items)).toEqual([
      'K0002:failed',
      'K0004:cancelled',
      'K0011:skipped',
    ]);
    const bad = await api.call('GET', `/v1/batches/${b.batchId}/items?status=done`, {
      token: api.tokens.reader,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toEqual(expect.stringContaining('status'));
    const tooMany = await api.call('GET', `/v1/batches/${b.batchId}/items?limit=501`, {
      token: api.tokens.reader,
    });
    expect(tooMany.status).toBe(400);

    // Cancelled as a whole: what never started is cancelled, as the report says.
    await h.ctx.batches.cancel(b.batchId);
    expect(await batchEnd(b.handle)).toEqual({ kind: 'cancelled' });
    const final = await readSummary(b.outputDir);
    const after = await items(b.batchId, '?limit=500');
    expect(states(after.items)).toEqual(expected.map((s) => s.replace(/:(pending|running)$/, ':cancelled')));
    expect(after.nextCursor).toBeNull();
    expect(after.items.filter((r) => r.state === 'cancelled')).toHaveLength(final.cancelled);
  });

  it('answers 404 for an unknown batch', async () => {
    const res = await api.call('GET', '/v1/batches/no-such-batch/items', { token: api.tokens.reader });
    expect(res.status).toBe(404);
  });
});

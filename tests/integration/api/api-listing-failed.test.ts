// A batch whose every item failed ends `failed` but its workflow completes (only a policy breach
// fails it): the list must say `failed` as its status does, and the status filters must agree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRows, finalProgress } from '../../helpers/engine';
import { engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';

interface Page {
  batches: { batchId: string; status: string; succeeded: number | null; failed: number | null }[];
  nextCursor: string | null;
}

describe('service: listing a batch in which nothing succeeded', () => {
  let h: EngineHarness;
  let api: ApiService;
  beforeAll(async () => {
    h = await engineHarness('api-listing-failed');
    api = await startApiService(h.ctx, {}, { reader: ['read'] });
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  it('lists it as failed, finds it with status=failed and not with status=completed', async () => {
    const b = await h.start(
      'all-fail',
      controlRows(3, () => ({ status: 422 })),
      { maxAttempts: 1 },
    );
    const final = await finalProgress(b.handle);
    expect(final).toMatchObject({ status: 'failed', total: 3, succeeded: 0, failed: 3 });

    const status = await api.call('GET', `/v1/batches/${b.batchId}`, { token: api.tokens.reader });
    expect(status.body.status).toBe('failed');

    // The source filter keeps the page to this batch (its CSV is named after its id).
    const find = async (query: string) => {
      const res = await api.call<Page>('GET', `/v1/batches?source=${b.batchId}&since=1h${query}`, {
        token: api.tokens.reader,
      });
      expect(res.status, res.text).toBe(200);
      return res.body.batches;
    };
    expect(await find('')).toEqual([
      expect.objectContaining({ batchId: b.batchId, status: 'failed', succeeded: 0, failed: 3 }),
    ]);
    expect((await find('&status=failed')).map((e) => e.batchId)).toEqual([b.batchId]);
    expect(await find('&status=completed')).toEqual([]);
  });
});

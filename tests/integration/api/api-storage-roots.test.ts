// The service reads a batch's files only inside its storage roots: a batch whose memo names an
// output directory elsewhere (anyone who reaches Temporal can start one) gets 403 on every route
// that reads files, and nothing of that folder is served; its status still answers (from the batch).
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { controlRows, finalProgress } from '../../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';

describe('service: storage roots', () => {
  let h: EngineHarness;
  let api: ApiService;
  beforeAll(async () => {
    h = await engineHarness('api-roots');
    api = await startApiService(h.ctx, {}, { reader: ['read'] });
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  it('refuses (403) items, events, report and downloads of a batch whose output lies elsewhere', async () => {
    // Outside the test's folder, so outside every root of the service.
    const elsewhere = await mkdtemp(path.join(inject('tmpRoot'), 'elsewhere-'));
    await mkdir(path.join(elsewhere, 'documents'), { recursive: true });
    await writeFile(path.join(elsewhere, 'documents', 'secret.txt'), 'not for clients');
    const target = await h.target();
    const { batchId, csv } = await h.source(
      'roots',
      controlRows(3, () => ({})),
    );
    const b = await h.ctx.batches.start(
      csv,
      h.ctx.config({ batchId, idColumn: 'id', http: { url: controlUrl(target) }, outputDir: elsewhere }),
    );
    expect(await finalProgress(b.handle)).toMatchObject({ status: 'completed', succeeded: 3 });
    const token = api.tokens.reader;
    for (const route of ['/items', '/events', '/report', '/results.csv', '/failed.csv', '/archive.zip']) {
      const res = await api.call('GET', `/v1/batches/${batchId}${route}`, { token });
      expect(res.status, route).toBe(403);
      expect(res.text, route).not.toContain('not for clients');
      expect(res.body.fix, route).toEqual(expect.stringContaining('allow.paths'));
    }
    const withFailed = await api.call('GET', `/v1/batches/${batchId}?include=failed`, { token });
    expect(withFailed.status).toBe(403);
    // The status itself comes from the batch, not from its folder.
    const status = await api.call('GET', `/v1/batches/${batchId}`, { token });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ batchId, status: 'completed', total: 3, succeeded: 3 });
  });
});

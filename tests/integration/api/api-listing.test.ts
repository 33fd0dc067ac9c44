// Listing batches and totals across them through the service, on the shared dev server: filters by
// status, since, source and label; cursor pages that hand out every batch exactly once; analytics
// with exact totals over batches with known outcomes.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchMemo } from '../../../src/client/batch-records';
import { batchInputFromConfig } from '../../../src/client/batch-input-from-config';
import { stepsFromConfig } from '../../../src/client/steps';
import { stageOptionsFromConfig } from '../../../src/config/stage-options';
import { sourceRef, stageSource } from '../../../src/source/stage';
import type { BatchProgress } from '../../../workflows/types';
import { batchEnd, controlRows, readSummary, waitFor, type ControlRow } from '../../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiAnswer, type ApiService } from '../../helpers/api-service';

interface Entry {
  batchId: string;
  status: string;
  total: number;
  source: string;
  label: string | null;
  links: { self: string; report: string };
}
interface Page {
  batches: Entry[];
  nextCursor: string | null;
}

describe('service: listing and analytics', () => {
  let h: EngineHarness;
  let api: ApiService;
  let reader: string;
  /** A substring of every source path of this file's batches (its own temporary folder). */
  let mine: string;
  const ids: Record<string, string> = {};
  const outputDirs: Record<string, string> = {};

  /** Starts a batch with a label in its memo, as POST /v1/batches does; waits for its end. */
  async function labelled(name: string, rows: ControlRow[], label: string, cancel = false) {
    const target = await h.target();
    const { batchId, csv } = await h.source(name, rows);
    const config = h.ctx.config({
      batchId,
      idColumn: 'id',
      http: { url: controlUrl(target) },
      concurrency: 2,
    });
    const staged = sourceRef(await stageSource(csv, stageOptionsFromConfig(config, h.ctx.home)));
    const outputDir = config.outputDir!;
    const input = batchInputFromConfig(config, {
      batchId,
      source: staged,
      steps: stepsFromConfig(config),
      outputDir,
    });
    const memo = { source: staged.originalPath, outputDir, total: staged.total, label } as BatchMemo;
    const handle = await h.ctx.batches.startInput(input, {
      taskQueue: h.ctx.taskQueue,
      memo,
      summary: `test ${name}`,
      details: [],
      audit: {},
    });
    if (cancel) {
      await waitFor('an item running', async () => {
        const p = await h.ctx.batches.progress(batchId);
        return p.running > 0;
      });
      await handle.cancel();
    }
    await batchEnd(handle);
    ids[name] = batchId;
    outputDirs[name] = outputDir;
  }

  beforeAll(async () => {
    h = await engineHarness('api-listing');
    api = await startApiService(h.ctx, {}, { reader: ['read'], operator: ['operate'] });
    reader = api.tokens.reader!;
    mine = path.basename(h.ctx.dir);
    // One after the other, so their running times do not overlap (the analytics' busy time adds up).
    await labelled('alpha-ok', controlRows(4), 'alpha');
    await labelled(
      'alpha-fail',
      controlRows(5, (i) => ({ status: i < 2 ? 400 : 0 })),
      'alpha',
    );
    await labelled('alpha-three', controlRows(3), 'alpha');
    await labelled('beta-ok', controlRows(2), 'beta');
    await labelled(
      'beta-cancel',
      controlRows(6, () => ({ delayMs: 20_000 })),
      'beta',
      true,
    );
  }, 180_000);
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  /** Every page of a listing, following nextCursor to the end. */
  async function allPages(query: string): Promise<Page[]> {
    const pages: Page[] = [];
    let cursor: string | null = null;
    do {
      const sep = query ? '&' : '';
      const res: ApiAnswer<Page> = await api.call<Page>(
        'GET',
        `/v1/batches?${query}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ''}`,
        { token: reader },
      );
      expect(res.status, res.text).toBe(200);
      pages.push(res.body);
      cursor = res.body.nextCursor;
    } while (cursor && pages.length < 50);
    return pages;
  }

  it('pages through the batches of a source with a cursor, each batch exactly once', async () => {
    const pages = await allPages(`source=${encodeURIComponent(mine)}&limit=2`);
    const seen = pages.flatMap((p) => p.batches.map((b) => b.batchId));
    expect(pages.every((p) => p.batches.length <= 2)).toBe(true);
    expect(seen.length).toBe(5);
    expect([...seen].sort()).toEqual(Object.values(ids).sort());
    expect(pages.at(-1)!.nextCursor).toBeNull();
    const first = pages[0]!.batches[0]!;
    expect(first.links.self).toBe(`/v1/batches/${first.batchId}`);
    expect(first.links.report).toBe(`/v1/batches/${first.batchId}/report`);
    expect(first.source).toContain(mine);
  });

  it('filters by label, status and since', async () => {
    const alpha = (await allPages(`label=alpha&limit=2`)).flatMap((p) => p.batches);
    expect(alpha.map((b) => b.batchId).sort()).toEqual(
      [ids['alpha-ok'], ids['alpha-fail'], ids['alpha-three']].sort(),
    );
    expect(alpha.every((b) => b.label === 'alpha')).toBe(true);
    const beta = (await allPages(`label=beta&source=${encodeURIComponent(mine)}`)).flatMap((p) => p.batches);
    expect(beta.map((b) => b.batchId).sort()).toEqual([ids['beta-ok'], ids['beta-cancel']].sort());

    const cancelled = (await allPages(`status=cancelled&source=${encodeURIComponent(mine)}`)).flatMap(
      (p) => p.batches,
    );
    expect(cancelled.map((b) => [b.batchId, b.status])).toEqual([[ids['beta-cancel'], 'cancelled']]);
    const partial = (await allPages(`status=partial_failure&source=${encodeURIComponent(mine)}`)).flatMap(
      (p) => p.batches,
    );
    expect(partial.map((b) => [b.batchId, b.total])).toEqual([[ids['alpha-fail'], 5]]);

    const recent = (await allPages(`since=1h&source=${encodeURIComponent(mine)}`)).flatMap((p) => p.batches);
    expect(recent.length).toBe(5);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const none = await allPages(`since=${encodeURIComponent(future)}&source=${encodeURIComponent(mine)}`);
    expect(none.flatMap((p) => p.batches)).toEqual([]);
  });

  it('refuses bad filters and cursors naming the parameter', async () => {
    const since = await api.call('GET', '/v1/batches?since=yesterday', { token: reader });
    expect(since.status).toBe(400);
    expect(since.body.detail).toEqual(expect.stringContaining('"since"'));
    const status = await api.call('GET', '/v1/batches?status=sleeping', { token: reader });
    expect(status.status).toBe(400);
    expect(status.body.detail).toEqual(expect.stringContaining('status'));
    const limit = await api.call('GET', '/v1/batches?limit=501', { token: reader });
    expect(limit.status).toBe(400);
    expect(limit.body.detail).toEqual(expect.stringContaining('limit'));
    const cursor = await api.call('GET', '/v1/batches?cursor=bm90LWEtY3Vyc29y', { token: reader });
    expect(cursor.status).toBe(400);
    expect(cursor.body.detail).toEqual(expect.stringContaining('"cursor"'));
    // A cursor is bound to its filters.
    const first = await api.call<Page>('GET', `/v1/batches?label=alpha&limit=1`, { token: reader });
    const other = await api.call('GET', `/v1/batches?label=beta&cursor=${first.body.nextCursor}`, {
      token: reader,
    });
    expect(other.status).toBe(400);
    expect(other.body.detail).toEqual(expect.stringContaining('other filters'));
    const noToken = await api.call('GET', '/v1/batches');
    expect(noToken.status).toBe(401);
    const noScope = await api.call('GET', '/v1/analytics', { token: api.tokens.operator });
    expect(noScope.status).toBe(403);
  });

  it('totals three batches with known outcomes exactly', async () => {
    const res = await api.call('GET', `/v1/analytics?since=1h&label=alpha`, { token: reader });
    expect(res.status, res.text).toBe(200);
    const summaries: BatchProgress[] = await Promise.all(
      ['alpha-ok', 'alpha-fail', 'alpha-three'].map((n) => readSummary(outputDirs[n]!)),
    );
    // They ran one after the other: the busy time is the sum of their durations.
    const busy = summaries.reduce((s, p) => s + (Date.parse(p.endedAt!) - Date.parse(p.startedAt)), 0) / 1000;
    const busySeconds = Math.round(busy * 1000) / 1000;
    expect(res.body).toMatchObject({
      batches: {
        total: 3,
        byStatus: { completed: 2, partial_failure: 1 },
        unreadable: 0,
        unreadableIds: [],
      },
      items: { total: 12, succeeded: 10, failed: 2, skipped: 0, cancelled: 0, running: 0, pending: 0 },
      cost: 0,
      errorsByType: { PermanentTargetError: 2 },
      busySeconds,
      itemsPerSecond: Math.round((12 / busySeconds) * 1000) / 1000,
      truncated: false,
    });

    const beta = await api.call('GET', `/v1/analytics?since=1h&label=beta`, { token: reader });
    expect(beta.body).toMatchObject({
      batches: { total: 2, byStatus: { completed: 1, cancelled: 1 }, unreadable: 0 },
      items: { total: 8, succeeded: 2, failed: 0, running: 0, pending: 0 },
    });
    const b = beta.body as { items: { skipped: number; cancelled: number } };
    // The cancelled batch's six items all ended skipped or cancelled.
    expect(b.items.skipped + b.items.cancelled).toBe(6);
  });
});

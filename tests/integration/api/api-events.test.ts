// The events stream: every item transition exactly once across a disconnect and a restart of the
// service, the counts ending equal to the report, per item and page mode, with items that fail and
// items that retry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRows, readSummary } from '../../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';
import { lastId, readEvents, type SseEvent } from '../../helpers/sse';
import type { ConfigInput } from '../../../src/config/schema';

type ItemData = { key: string; state: string; attempt?: number; error?: string };

const TERMINAL = ['succeeded', 'failed', 'cancelled', 'skipped'];
const itemEvents = (events: SseEvent[]) =>
  events.filter((e) => e.event === 'item').map((e) => e.data as ItemData);

/** 30 items: every 7th fails for good (status 400), every 5th fails twice then succeeds. */
const ROWS = controlRows(30, (i) => ({
  delayMs: 150,
  ...(i % 7 === 3 ? { status: 400 } : {}),
  ...(i % 5 === 1 && i % 7 !== 3 ? { failAttempts: 2 } : {}),
}));
const FAILING = ROWS.filter((r) => r.status === 400).map((r) => r.id);
const RETRIED = ROWS.filter((r) => r.failAttempts === 2).map((r) => r.id);

describe('service: the events stream', () => {
  let h: EngineHarness;
  let api: ApiService;
  beforeAll(async () => {
    h = await engineHarness('api-events');
    api = await startApiService(h.ctx, {}, { reader: ['read'] });
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  async function startBatch(name: string, overrides: ConfigInput) {
    const target = await h.target();
    const { batchId, csv } = await h.source(name, ROWS);
    const config = h.ctx.config({
      batchId,
      idColumn: 'id',
      http: { url: controlUrl(target) },
      concurrency: 4,
      maxAttempts: 3,
      initialIntervalMs: 50,
      maxIntervalMs: 100,
      ...overrides,
    });
    // Small result pages and runs: outcomes cross pages on disk, the unwritten tail and continue-as-new.
    return h.ctx.batches.start(csv, config, { resultsPageSize: 4, continueAsNewAfterEvents: 150 });
  }

  /** Checks one client's events across all its connections against the batch's report. */
  async function expectExactlyOnce(events: SseEvent[], outputDir: string) {
    const items = itemEvents(events);
    const terminal = items.filter((e) => TERMINAL.includes(e.state));
    expect(terminal.map((e) => e.key).sort()).toEqual(ROWS.map((r) => r.id).sort());
    expect(
      terminal
        .filter((e) => e.state === 'failed')
        .map((e) => e.key)
        .sort(),
    ).toEqual(FAILING.sort());
    const started = items.filter((e) => e.state === 'started').map((e) => e.key);
    expect(started.sort()).toEqual(ROWS.map((r) => r.id).sort());
    const retrying = items.filter((e) => e.state === 'retrying');
    expect(retrying.map((e) => `${e.key}#${e.attempt}`).sort()).toEqual(
      RETRIED.flatMap((k) => [`${k}#2`, `${k}#3`]).sort(),
    );
    expect(retrying.every((e) => typeof e.error === 'string' && e.error.length > 0)).toBe(true);
    // Every item's start comes before its end.
    for (const key of ROWS.map((r) => r.id)) {
      const at = (s: string) => items.findIndex((e) => e.key === key && e.state === s);
      expect(at('started')).toBeLessThan(items.findIndex((e) => e.key === key && TERMINAL.includes(e.state)));
    }
    const summary = await readSummary(outputDir);
    const end = events.at(-1)!;
    expect(end.event).toBe('end');
    const lastCounts = [...events].reverse().find((e) => e.event === 'counts')!.data as Record<
      string,
      number
    >;
    for (const f of ['succeeded', 'failed', 'skipped', 'cancelled', 'total'] as const) {
      expect((end.data as Record<string, number>)[f]).toBe(summary[f]);
      expect(lastCounts[f]).toBe(summary[f]);
    }
    expect(summary).toMatchObject({ total: 30, failed: FAILING.length, succeeded: 30 - FAILING.length });
  }

  /** Reads half the item transitions, disconnects, reconnects with the last id and reads to the end. */
  async function halfThenRest(batchId: string, between?: () => Promise<void>) {
    const url = () => `${api.url}/v1/batches/${batchId}/events`;
    const first = await readEvents(url(), {
      token: api.tokens.reader,
      stop: (evs) => itemEvents(evs).filter((e) => TERMINAL.includes(e.state)).length >= 15,
    });
    expect(first.status).toBe(200);
    expect(first.contentType).toMatch(/^text\/event-stream/);
    expect(first.events[0]!.event).toBe('counts');
    await between?.();
    const rest = await readEvents(url(), { token: api.tokens.reader, lastEventId: lastId(first.events) });
    expect(rest.ended).toBe(true);
    return [...first.events, ...rest.events];
  }

  it('per item: a client that reconnects with Last-Event-ID sees each transition exactly once', async () => {
    const b = await startBatch('events-item', {});
    await expectExactlyOnce(await halfThenRest(b.batchId), b.outputDir);
  });

  it('page mode: the same across a restart of the service', async () => {
    const b = await startBatch('events-page', { itemsPerChild: 5 });
    const events = await halfThenRest(b.batchId, async () => {
      // A new process knows nothing of the old one: only the id carries the position.
      const port = new URL(api.url).port;
      await api.close();
      api = await startApiService(h.ctx, {}, { reader: ['read'] });
      expect(new URL(api.url).port).not.toBe(port);
    });
    await expectExactlyOnce(events, b.outputDir);
  });

  it('page + local: the same', async () => {
    const b = await startBatch('events-local', { itemsPerChild: 5, itemExecution: 'local' });
    await expectExactlyOnce(await halfThenRest(b.batchId), b.outputDir);
  });

  it('keep-alives while idle; cancelled: items that never started end cancelled, once, also after a reconnect', async () => {
    const target = await h.target();
    const rows = controlRows(12, (i) => (i === 0 ? { delayMs: 60_000 } : {}));
    const { batchId, csv } = await h.source('events-cancelled', rows);
    const b = await h.ctx.batches.start(
      csv,
      h.ctx.config({ batchId, idColumn: 'id', http: { url: controlUrl(target) }, concurrency: 1 }),
    );
    const url = `${api.url}/v1/batches/${b.batchId}/events`;
    // While nothing changes (one item running for a minute), a keep-alive comment every 15 s.
    const idle = await readEvents(url, {
      token: api.tokens.reader,
      stop: (evs, comments) => comments.includes('keep-alive'),
    });
    expect(itemEvents(idle.events).map((e) => `${e.key}:${e.state}`)).toEqual(['K0001:started']);
    await h.ctx.batches.cancel(b.batchId);
    const all = await readEvents(url, { token: api.tokens.reader });
    expect(all.ended).toBe(true);
    const ends = itemEvents(all.events).filter((e) => TERMINAL.includes(e.state));
    expect(ends.map((e) => `${e.key}:${e.state}`)).toEqual(rows.map((r) => `${r.id}:cancelled`));
    expect(ends.slice(1).every((e) => (e as { errorType?: string }).errorType === 'NotStarted')).toBe(true);
    const summary = await readSummary(b.outputDir);
    expect(summary).toMatchObject({ status: 'cancelled', cancelled: 12 });
    expect(all.events.at(-1)!.data).toMatchObject({ cancelled: 12, status: 'cancelled' });

    const cut = all.events.findIndex((e) => e.event === 'item' && (e.data as ItemData).key === 'K0005');
    const rest = await readEvents(url, { token: api.tokens.reader, lastEventId: all.events[cut]!.id });
    expect(itemEvents(rest.events).map((e) => e.key)).toEqual(rows.slice(5).map((r) => r.id));
    expect(rest.events.at(-1)!.event).toBe('end');
  });

  it('after the end: a reconnect gets the rest and `end` again; a bad id is 400; an unknown batch 404', async () => {
    const b = await startBatch('events-after', {});
    const all = await readEvents(`${api.url}/v1/batches/${b.batchId}/events`, { token: api.tokens.reader });
    expect(all.ended).toBe(true);
    const cut = all.events.findIndex((e) => e.event === 'item' && (e.data as ItemData).state === 'succeeded');
    const again = await readEvents(`${api.url}/v1/batches/${b.batchId}/events`, {
      token: api.tokens.reader,
      lastEventId: all.events[cut]!.id,
    });
    expect(again.ended).toBe(true);
    // The same transitions (a resumed stream may interleave its two sources in another order).
    const sorted = (evs: SseEvent[]) =>
      itemEvents(evs)
        .map((e) => JSON.stringify(e))
        .sort();
    expect(sorted(again.events)).toEqual(sorted(all.events.slice(cut + 1)));
    expect(again.events.at(-1)!.event).toBe('end');
    const bad = await api.call('GET', `/v1/batches/${b.batchId}/events`, {
      token: api.tokens.reader,
      headers: { 'last-event-id': '../../etc/passwd' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.fix).toEqual(expect.stringContaining('Last-Event-ID'));
    // An id of another, longer batch would skip this one's events: refused too.
    const journalEnd = Number(/j(\d+)$/.exec(all.events.at(-1)!.id!)![1]);
    const past = await api.call('GET', `/v1/batches/${b.batchId}/events`, {
      token: api.tokens.reader,
      headers: { 'last-event-id': `o0.0.j${journalEnd + 1}` },
    });
    expect(past.status).toBe(400);
    expect(past.body.detail).toEqual(expect.stringContaining('not sent for this batch'));
    const missing = await api.call('GET', '/v1/batches/no-such-batch/events', { token: api.tokens.reader });
    expect(missing.status).toBe(404);
  });
});

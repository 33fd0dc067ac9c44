// What a party that reaches Temporal (not the service) can make the service do with a workflow of
// its own: its input names the item count the service sizes its per-item arrays by, so a count its
// staged source does not hold is refused (409) on every route that keeps such arrays; and events
// streams are bounded per caller, so one token cannot hold the process's reads with many of them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBatchInput } from '../../../src/client/batch-records';
import { controlRows, finalProgress } from '../../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';

describe('service: batches started around it', () => {
  let h: EngineHarness;
  let api: ApiService;
  let genuine: string;
  const forged: string[] = [];

  beforeAll(async () => {
    h = await engineHarness('api-hostile');
    api = await startApiService(
      h.ctx,
      { api: { maxEventStreams: 2 } },
      { reader: ['read'], other: ['read'] },
    );
    const target = await h.target();
    const { batchId, csv } = await h.source('genuine', controlRows(3));
    const b = await h.ctx.batches.start(
      csv,
      h.ctx.config({ batchId, idColumn: 'id', http: { url: controlUrl(target) } }),
    );
    expect(await finalProgress(b.handle)).toMatchObject({ status: 'completed', succeeded: 3 });
    genuine = batchId;
  });
  afterAll(async () => {
    for (const id of forged)
      await h.ctx.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    await api?.close();
    await h?.close();
  });

  /** A workflow with the genuine batch's input and memo, `total` replaced, on a queue no worker polls. */
  async function forge(name: string, total: number): Promise<string> {
    const id = `${name}-${Date.now()}`;
    const input = await readBatchInput(h.ctx.batches, genuine);
    const { memo } = await h.ctx.batches.handle(genuine).describe();
    await h.ctx.client.workflow.start('batchWorkflow', {
      workflowId: id,
      taskQueue: `${h.ctx.taskQueue}-nobody`,
      args: [{ ...input, batchId: id, source: { ...input.source, total } }],
      memo,
    });
    forged.push(id);
    return id;
  }

  it('refuses (409) items and events of a batch whose input names items its staging does not hold', async () => {
    // -1 would throw where the arrays are made (a 500); 2e9 would allocate gigabytes.
    const id = await forge('forged-total', -1);
    const token = api.tokens.reader;
    for (const route of ['/items', '/events']) {
      const res = await api.call('GET', `/v1/batches/${id}${route}`, { token });
      expect(res.status, `${route} ${res.text}`).toBe(409);
      expect(res.body.detail, route).toBe(
        `batch "${id}" names -1 items, but its staged source holds 3: durabatch did not start it so`,
      );
    }
    // The genuine batch it copied answers as before.
    const items = await api.call('GET', `/v1/batches/${genuine}/items`, { token });
    expect(items.status).toBe(200);
    expect((items.body.items as unknown[]).length).toBe(3);
  });

  it('holds at most api.maxEventStreams streams open per token (429 past it)', async () => {
    const id = await forge('held-open', 3);
    const url = `${api.url}/v1/batches/${id}/events`;
    const open = (token: string) => {
      const abort = new AbortController();
      const res = fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
      return { abort, res };
    };
    const a = open(api.tokens.reader!);
    const b = open(api.tokens.reader!);
    expect((await a.res).status).toBe(200);
    expect((await b.res).status).toBe(200);
    const third = await open(api.tokens.reader!).res;
    expect(third.status).toBe(429);
    expect(await third.json()).toMatchObject({
      detail: 'token "reader" has 2 events streams open already',
      limit: 2,
    });
    // Per token: another caller is not refused for the first one's streams.
    const c = open(api.tokens.other!);
    expect((await c.res).status).toBe(200);
    // A closed stream frees its place.
    a.abort.abort();
    let again: Response | undefined;
    for (let i = 0; i < 50; i++) {
      const d = open(api.tokens.reader!);
      again = await d.res;
      if (again.status === 200) {
        d.abort.abort();
        break;
      }
      await again.body?.cancel();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(again?.status).toBe(200);
    b.abort.abort();
    c.abort.abort();
  });
});

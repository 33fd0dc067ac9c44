// Starting batches through the service: inline items and source paths under the source roots run to
// exact counts; presets are the only processors (unknown ones, URLs outside, hostile parameter values
// and processor settings are 400); refusals start no workflow.
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchProgress } from '../../../workflows/types';
import type { TargetApi } from '../../../examples/target-api/server';
import { startApiService, type ApiService } from '../../helpers/api-service';
import { engineHarness, type EngineHarness } from '../../helpers/harness';

describe('service: starting batches', () => {
  let h: EngineHarness;
  let api: ApiService;
  let target: TargetApi;
  let roots: string;
  let outside: string;
  let token: string;

  beforeAll(async () => {
    h = await engineHarness('api-submit');
    target = await h.target();
    roots = path.join(h.ctx.dir, 'sources');
    outside = path.join(h.ctx.dir, 'elsewhere');
    await mkdir(roots, { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(roots, 'rows.csv'), 'id,status\nr1,0\nr2,0\nr3,422\n');
    await writeFile(path.join(outside, 'secret.csv'), 'id\ns1\n');
    await symlink(path.join(outside, 'secret.csv'), path.join(roots, 'link.csv'));
    api = await startApiService(
      h.ctx,
      {
        maxAttempts: 2,
        api: {
          sourceRoots: [roots],
          presets: {
            items: {
              description: 'the test target',
              processor: 'http',
              http: { url: `${target.url}/api/items{?status}` },
            },
            tenant: {
              processor: 'http',
              params: { host: { pattern: '^[a-z0-9.-]{1,100}$' } },
              http: { url: 'http://${param:host}/api/items' },
              allowOrigins: [target.url],
            },
            word: {
              processor: 'http',
              params: { word: {} },
              http: { url: `${target.url}/api/items/\${param:word}` },
            },
          },
        },
      },
      { submitter: ['read', 'submit'], reader: ['read'] },
    );
    token = api.tokens.submitter!;
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  const result = (batchId: string) =>
    h.ctx.client.workflow.getHandle(batchId).result() as Promise<BatchProgress>;
  const exists = (batchId: string) =>
    h.ctx.client.workflow
      .getHandle(batchId)
      .describe()
      .then(
        () => true,
        () => false,
      );

  it('starts a batch of inline items: 202 at once, then exact counts, memo labelled', async () => {
    const batchId = `inline-${Date.now()}`;
    const res = await api.call('POST', '/v1/batches', {
      token,
      json: {
        preset: 'items',
        batchId,
        label: 'inline test',
        items: [{ id: 'a', status: 0 }, { id: 'b', status: 0 }, { id: 'c', status: 404 }, { id: 'd' }],
        settings: { idColumn: 'id', concurrency: 2 },
      },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body).toMatchObject({
      batchId,
      total: 4,
      invalid: 0,
      status: 'running',
      links: { self: `/v1/batches/${batchId}`, events: `/v1/batches/${batchId}/events` },
    });
    expect(res.headers.get('location')).toBe(`/v1/batches/${batchId}`);
    const final = await result(batchId);
    expect(final).toMatchObject({
      total: 4,
      succeeded: 3,
      failed: 1,
      status: 'partial_failure',
      concurrency: 2,
    });
    const desc = await h.ctx.client.workflow.getHandle(batchId).describe();
    expect(desc.taskQueue).toBe(h.ctx.taskQueue);
    expect(desc.memo).toMatchObject({ api: true, label: 'inline test', total: 4 });
    expect((desc.memo as { outputDir: string }).outputDir).toBe(path.join(h.ctx.dir, 'api-output', batchId));
    // The start is audited in the caller's name, as the service acted for it.
    const audit = await readFile(path.join(h.ctx.dir, 'api-output', batchId, 'audit', 'audit.jsonl'), 'utf8');
    const start = JSON.parse(audit.split('\n')[0]!) as Record<string, unknown>;
    expect(start).toMatchObject({ action: 'start', batchId, user: 'token:submitter', via: 'durabatch-api' });
  });

  it('reads a source path inside a source root, and refuses one outside or linked out', async () => {
    const batchId = `path-${Date.now()}`;
    const ok = await api.call('POST', '/v1/batches', {
      token,
      json: { preset: 'items', batchId, source: { path: 'rows.csv' }, settings: { idColumn: 'id' } },
    });
    expect(ok.status, ok.text).toBe(202);
    expect(ok.body.total).toBe(3);
    expect(await result(batchId)).toMatchObject({ total: 3, succeeded: 2, failed: 1 });

    const refused: [string, string][] = [
      [path.join(outside, 'secret.csv'), 'outside'],
      ['../elsewhere/secret.csv', 'outside'],
      ['link.csv', 'outside'],
      ['missing.csv', 'does not exist'],
    ];
    for (const [p, why] of refused) {
      const id = `path-refused-${Date.now()}`;
      const res = await api.call('POST', '/v1/batches', {
        token,
        json: { preset: 'items', batchId: id, source: { path: p } },
      });
      expect(res.status, p).toBe(400);
      expect(res.body.detail).toContain(`source.path: "${p}"`);
      expect(res.body.detail).toContain(why);
      expect(res.body.fix).toContain('api.sourceRoots');
      expect(await exists(id)).toBe(false);
    }
  });

  it('refuses unknown presets, URLs outside, hostile parameters and processor settings (400, nothing starts)', async () => {
    const before = await h.ctx.client.workflow.count(`TaskQueue = "${h.ctx.taskQueue}"`);
    const cases: { json: Record<string, unknown>; detail: string; fix?: string }[] = [
      { json: { preset: 'nope' }, detail: 'preset: no preset named "nope"', fix: 'items, tenant, word' },
      {
        json: { preset: 'tenant', params: { host: 'evil.example.com' } },
        detail: 'would call http://evil.example.com, outside its allowed origins',
      },
      { json: { preset: 'word', params: { word: '..' } }, detail: 'params.word: ".." is not allowed' },
      { json: { preset: 'word', params: { word: '-x' } }, detail: 'params.word: "-x" is not allowed' },
      { json: { preset: 'word', params: { word: 'a/b' } }, detail: 'params.word: "a/b" does not match' },
      { json: { preset: 'word' }, detail: 'params.word: missing' },
      {
        json: { preset: 'items', params: { x: 1 } },
        detail: 'params.x: preset "items" has no such parameter',
      },
      {
        json: { preset: 'items', settings: { command: { argv: ['sh', '-c', 'id'] } } },
        detail: 'settings.command: not a setting a client may send',
      },
      {
        json: { preset: 'items', settings: { http: { url: 'http://169.254.169.254/' } } },
        detail: 'settings.http: not a setting a client may send',
      },
      {
        json: { preset: 'items', settings: { outputDir: '/etc' } },
        detail: 'settings.outputDir: not a setting',
      },
      {
        json: { preset: 'items', settings: { concurrency: 5000 } },
        detail: 'settings.concurrency: 5000 is too big',
      },
      { json: { preset: 'items', settings: { keys: 'keys.txt' } }, detail: 'settings.keys' },
    ];
    for (const c of cases) {
      const res = await api.call('POST', '/v1/batches', {
        token,
        json: { items: [{ id: 'x' }], ...c.json },
      });
      expect(res.status, JSON.stringify(c.json)).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.detail).toContain(c.detail);
      if (c.fix) expect(res.body.fix).toContain(c.fix);
    }
    const reader = await api.call('POST', '/v1/batches', {
      token: api.tokens.reader,
      json: { preset: 'items', items: [{ id: 'x' }] },
    });
    expect(reader.status).toBe(403);
    // No workflow of any of them on the test's queue, and no request folder left behind.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await h.ctx.client.workflow.count(`TaskQueue = "${h.ctx.taskQueue}"`)).toEqual(before);
    expect(await readdir(path.join(h.ctx.dir, 'api-uploads', '.incoming'))).toEqual([]);
  });

  it('selects by a list of keys, written by the service itself', async () => {
    const batchId = `keys-${Date.now()}`;
    const res = await api.call('POST', '/v1/batches', {
      token,
      json: {
        preset: 'items',
        batchId,
        items: [{ id: 'k1' }, { id: 'k2' }, { id: 'k3' }],
        settings: { idColumn: 'id', keys: ['k1', 'k3'] },
      },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body.total).toBe(2);
    expect(await result(batchId)).toMatchObject({ total: 2, succeeded: 2 });
  });

  it('plans the same request without starting anything', async () => {
    const batchId = `planned-${Date.now()}`;
    const res = await api.call('POST', '/v1/batches/plan?estimateLatencyMs=200', {
      token,
      json: {
        preset: 'items',
        batchId,
        items: [
          { id: 'p1', n: 1 },
          { id: 'p2', n: 'x' },
          { id: 'p3', n: 3 },
        ],
        settings: {
          idColumn: 'id',
          costPerItem: 0.5,
          schema: { fields: { n: { type: 'number' } } },
        },
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      total: 3,
      valid: 2,
      invalid: 1,
      cost: { total: 1, perItem: 0.5 },
      estimate: { latencyMs: 200 },
      mode: { name: 'per-item' },
      // The preset's URL is the operator's: the plan names the preset.
      processor: 'preset "items" (http)',
    });
    expect(res.text).not.toContain(target.url);
    expect(res.body.invalidRows).toEqual([
      { line: 2, reason: 'line 2: field n: expected a number, got "x"' },
    ]);
    expect(await exists(batchId)).toBe(false);
    expect(await readdir(path.join(h.ctx.dir, 'api-uploads', '.incoming'))).toEqual([]);
  });

  it('documents its routes in the OpenAPI document', async () => {
    const res = await api.call('GET', '/v1/openapi.json');
    const paths = res.body.paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths['/v1/batches']!)).toContain('post');
    expect(Object.keys(paths['/v1/batches/plan']!)).toEqual(['post']);
    expect(Object.keys(paths['/v1/batches/{id}/retry-failed']!)).toEqual(['post']);
    expect(Object.keys(paths['/v1/presets']!)).toEqual(['get']);
  });

  it('lists the presets with their parameters', async () => {
    const res = await api.call('GET', '/v1/presets', { token: api.tokens.reader });
    expect(res.status).toBe(200);
    expect(res.body.presets).toEqual([
      { name: 'items', description: 'the test target', kind: 'http', params: [] },
      {
        name: 'tenant',
        description: null,
        kind: 'http',
        params: [{ name: 'host', type: 'string', required: true, pattern: '^[a-z0-9.-]{1,100}$' }],
      },
      {
        name: 'word',
        description: null,
        kind: 'http',
        params: [{ name: 'word', type: 'string', required: true, pattern: '^[A-Za-z0-9._-]{1,100}$' }],
      },
    ]);
  });
});

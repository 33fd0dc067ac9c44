// The service's foundation: a batch's status through HTTP equals the engine's, unknown batches are
// 404, and tokens are enforced by scope (401 without, 403 without the scope).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRows, finalProgress } from '../../helpers/engine';
import { engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';

describe('service: batch status and tokens', () => {
  let h: EngineHarness;
  let api: ApiService;
  beforeAll(async () => {
    h = await engineHarness('api-status');
    api = await startApiService(h.ctx, {}, { reader: ['read'], operator: ['operate'] });
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  it('answers a finished batch’s status as status --json does', async () => {
    const b = await h.start(
      'api-status',
      controlRows(6, () => ({})),
    );
    const final = await finalProgress(b.handle);
    const res = await api.call('GET', `/v1/batches/${b.batchId}`, { token: api.tokens.reader });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ batchId: b.batchId, status: 'completed', total: 6, succeeded: 6 });
    expect(res.body.succeeded).toBe(final.succeeded);
  });

  it('refuses without a token (401), without the scope (403), and names an unknown batch (404)', async () => {
    const none = await api.call('GET', '/v1/batches/whatever');
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(none.body.status).toBe(401);
    expect(none.body.fix).toEqual(expect.stringContaining('Authorization: Bearer'));
    const wrong = await api.call('GET', '/v1/batches/whatever', { token: 'dbt_not-a-token' });
    expect(wrong.status).toBe(401);
    const scope = await api.call('GET', '/v1/batches/whatever', { token: api.tokens.operator });
    expect(scope.status).toBe(403);
    expect(scope.body).toMatchObject({ scope: 'read' });
    const missing = await api.call('GET', '/v1/batches/no-such-batch', { token: api.tokens.reader });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toEqual(expect.stringContaining('no-such-batch'));
  });

  it('serves its OpenAPI 3.1 document without a token', async () => {
    const res = await api.call('GET', '/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths as object)).toContain('/v1/batches/{id}');
  });

  it('limits requests per token (429 problem) and sends CORS headers only to configured origins', async () => {
    const limited = await startApiService(
      h.ctx,
      { api: { rateLimitPerMinute: 3, corsOrigins: ['https://console.example'] } },
      { app: ['read'] },
    );
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) {
        codes.push((await limited.call('GET', '/v1/batches/no-such', { token: limited.tokens.app })).status);
      }
      expect(codes).toEqual([404, 404, 404, 429, 429]);
      const refused = await limited.call('GET', '/v1/batches/no-such', { token: limited.tokens.app });
      expect(refused.body.fix).toEqual(expect.stringContaining('api.rateLimitPerMinute'));
      // Guessing tokens is limited too, by address.
      const guesses: number[] = [];
      for (let i = 0; i < 4; i++) {
        guesses.push((await limited.call('GET', '/v1/batches/no-such', { token: `dbt_guess${i}` })).status);
      }
      expect(guesses).toEqual([401, 401, 401, 429]);
      const allowed = await limited.call('OPTIONS', '/v1/batches/x', {
        headers: { origin: 'https://console.example', 'access-control-request-method': 'GET' },
      });
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://console.example');
      const other = await limited.call('OPTIONS', '/v1/batches/x', {
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
      });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await limited.close();
    }
    // The default service sends no CORS headers at all.
    const plain = await api.call('GET', '/v1/batches/no-such', {
      token: api.tokens.reader,
      headers: { origin: 'https://console.example' },
    });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
  });
});

// The console's files are served without a token, under a Content-Security-Policy that allows only
// the service's own origin, and a request can name none but the console's own files.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../helpers/context';
import { startApiService, type ApiService } from '../../helpers/api-service';

describe('service: the console’s files', () => {
  let ctx: TestContext;
  let api: ApiService;
  beforeAll(async () => {
    ctx = await createTestContext('api-console');
    api = await startApiService(ctx, {}, { reader: ['read'] });
  });
  afterAll(async () => {
    await api?.close();
    await ctx?.close();
  });

  it('serves the page and its modules without a token, under a self-only CSP', async () => {
    const page = await api.call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.text).toBe(await readFile('src/api/console/index.html', 'utf8'));
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp.split('; ')).toEqual(
      expect.arrayContaining(["default-src 'self'", "script-src 'self'", "object-src 'none'"]),
    );
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    // No inline script or style: everything the page runs is a file of its own.
    expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|<style|\sstyle=/i);
    const main = await api.call('GET', '/console/main.js');
    expect(main.status).toBe(200);
    expect(main.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(main.text).toBe(await readFile('src/api/console/main.js', 'utf8'));
    const css = await api.call('GET', '/console/console.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('names only the console’s own files', async () => {
    // A name of the console's form that is not one of its files: 404. Anything else (a path, a
    // climb, another extension) is not a console file name at all: 400, before any lookup.
    const answers: [string, number][] = [];
    for (const p of [
      '/console/nope.js',
      '/console/..%2Fapp.ts',
      '/console/%2E%2E%2F%2E%2E%2Fpackage.json',
      '/console/index.html.js',
      '/console/app.ts',
    ])
      answers.push([p, (await api.call('GET', p)).status]);
    expect(answers).toEqual([
      ['/console/nope.js', 404],
      ['/console/..%2Fapp.ts', 400],
      ['/console/%2E%2E%2F%2E%2E%2Fpackage.json', 400],
      ['/console/index.html.js', 400],
      ['/console/app.ts', 400],
    ]);
    const refused = await api.call('GET', '/console/app.ts');
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    // The API itself still wants its token.
    const list = await api.call('GET', '/v1/batches/x');
    expect(list.status).toBe(401);
  });
});

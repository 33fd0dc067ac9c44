// docs/openapi.json is the service's OpenAPI document as the code generates it; this fails when a
// route or schema changed without regenerating the committed copy.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument, OPENAPI_FILE, renderOpenApi } from '../../scripts/gen-openapi';

describe('docs/openapi.json', () => {
  it('is what the code generates', async () => {
    const committed = await readFile(OPENAPI_FILE, 'utf8').catch(() => '');
    const generated = await renderOpenApi();
    // Not toEqual on the whole text: a 2,000-line diff hides the one thing to do.
    if (committed !== generated) {
      const stale = Object.keys((JSON.parse(generated) as { paths: object }).paths).filter(
        (p) => !committed.includes(`"${p}"`),
      );
      expect.fail(
        `docs/openapi.json is out of date with src/api${stale.length ? ` (missing ${stale.join(', ')})` : ''}\n  fix: run \`npm run docs:openapi\` and commit docs/openapi.json`,
      );
    }
  });

  it('is OpenAPI 3.1 with every route the service serves and its bearer scheme', async () => {
    const doc = (await buildOpenApiDocument()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths['/v1/batches/{id}'] ?? {})).toContain('get');
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    // Sorted: a route module registered in another order gives the same file.
    const keys = Object.keys(doc.paths);
    expect(keys).toEqual([...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });
});

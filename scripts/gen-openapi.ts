// `npm run docs:openapi`: writes docs/openapi.json, the service's OpenAPI 3.1 document, from the
// app itself (the same zod schemas that validate requests), so the committed copy cannot drift from
// the code: tests/unit/openapi-current.test.ts fails when it does. The app is built without a server
// or a Temporal connection (a lazy one, never used), from default settings only: no config file and
// no DURABATCH_* variable changes the document. Keys of `paths` and `components` are sorted, so the
// file does not depend on the order route modules are registered in.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { format } from 'prettier';
import { buildApiApp } from '../src/api/app';
import { TokenTable } from '../src/api/auth';
import { createApiContext } from '../src/api/context';
import { ApiSettings } from '../src/config/api';
import { Config } from '../src/config/schema';

const root = fileURLToPath(new URL('..', import.meta.url));
export const OPENAPI_FILE = path.join(root, 'docs', 'openapi.json');

/** The object with its keys in code-point order (not locale order: the same on every machine). */
function sortedKeys<T>(obj: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The document as the service serves it at /v1/openapi.json, with default settings. */
export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const connection = Connection.lazy({ address: '127.0.0.1:7233' });
  const ctx = createApiContext({
    settings: ApiSettings.parse({}),
    config: Config.parse({}),
    home: path.join(root, '.durabatch'),
    env: {
      connection,
      connectionOptions: { address: '127.0.0.1:7233' },
      client: new Client({ connection }),
      namespace: 'default',
      address: '127.0.0.1:7233',
      webUiBase: null,
      close: () => connection.close(),
    },
    tokens: await TokenTable.load({}),
    log: pino({ level: 'silent' }),
  });
  const app = await buildApiApp(ctx);
  try {
    await app.ready();
    const doc = structuredClone(app.swagger()) as unknown as Record<string, unknown>;
    const paths = doc.paths as Record<string, unknown> | undefined;
    if (paths) doc.paths = sortedKeys(paths);
    const components = doc.components as Record<string, Record<string, unknown>> | undefined;
    if (components) {
      doc.components = sortedKeys(
        Object.fromEntries(Object.entries(components).map(([k, v]) => [k, sortedKeys(v)])),
      );
    }
    return doc;
  } finally {
    await app.close();
    await connection.close().catch(() => undefined);
  }
}

/** The file's text: the document, formatted as prettier formats the repository's JSON. */
export async function renderOpenApi(): Promise<string> {
  return format(JSON.stringify(await buildOpenApiDocument()), { parser: 'json', printWidth: 110 });
}

async function main(): Promise<void> {
  const text = await renderOpenApi();
  writeFileSync(OPENAPI_FILE, text);
  const doc = JSON.parse(text) as { paths?: Record<string, object> };
  const operations = Object.values(doc.paths ?? {}).reduce((n, p) => n + Object.keys(p).length, 0);
  process.stdout.write(`${path.relative(root, OPENAPI_FILE)}: ${operations} operations\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();

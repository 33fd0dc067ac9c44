// The batch service for one test file, in-process on the shared dev server: the real app (routes,
// tokens, problems) listening on a free port of 127.0.0.1, and a fetch helper that returns status,
// headers and the parsed body. Batches it starts run on the test context's task queue.
import path from 'node:path';
import { inject } from 'vitest';
import { buildApiApp } from '../../src/api/app';
import { TokenTable, newToken } from '../../src/api/auth';
import { createApiContext, type ApiContext } from '../../src/api/context';
import type { ApiScope } from '../../src/config/api';
import type { ConfigInput } from '../../src/config/schema';
import { createLogger } from '../../src/logging/logger';
import type { Environment } from '../../src/server/environment';
import type { TestContext } from './context';

/** A JSON body as parsed; tests name the fields they read. */
export type JsonBody = Record<string, unknown>;

export interface ApiAnswer<T = JsonBody> {
  status: number;
  headers: Headers;
  body: T;
  /** The body as text (CSV, ZIP bytes as latin1 are better read with `raw`). */
  text: string;
}

/** What fetch accepts as a body (FormData, text, bytes, a stream). */
export type RequestBody = NonNullable<Parameters<typeof fetch>[1]>['body'];

export interface ApiService {
  url: string;
  ctx: ApiContext;
  /** Tokens by name (only when the service was started with `tokens`). */
  tokens: Record<string, string>;
  /** A request; `token` sends `Authorization: Bearer`, `json` a JSON body, `body` any other body. */
  call<T = JsonBody>(
    method: string,
    pathAndQuery: string,
    opts?: { token?: string; json?: unknown; body?: RequestBody; headers?: Record<string, string> },
  ): Promise<ApiAnswer<T>>;
  close(): Promise<void>;
}

/**
 * Starts the service for `tctx`. `config` is the service's configuration (its `api` section holds
 * presets and limits); `tokens` creates one token per name with the given scopes.
 */
export async function startApiService(
  tctx: TestContext,
  config: ConfigInput = {},
  tokens: Record<string, ApiScope[]> = {},
): Promise<ApiService> {
  const made = Object.entries(tokens).map(([name, scopes]) => ({ name, ...newToken(name, scopes) }));
  const full = tctx.config({
    outputDir: undefined,
    ...config,
    api: {
      outputRoot: path.join(tctx.dir, 'api-output'),
      uploadsDir: path.join(tctx.dir, 'api-uploads'),
      ...config.api,
      ...(made.length ? { tokens: made.map((t) => t.entry) } : {}),
    },
    // The test context's batches (started by BatchClient) write under <dir>/output: the service
    // reads batches' files only inside its storage roots, so that folder is one of them.
    allow: { ...config.allow, paths: [path.join(tctx.dir, 'output'), ...[config.allow?.paths ?? []].flat()] },
  });
  const env: Environment = {
    connection: tctx.connection,
    connectionOptions: { address: tctx.address },
    client: tctx.client,
    namespace: 'default',
    address: tctx.address,
    webUiBase: inject('temporalUiUrl'),
    close: () => Promise.resolve(),
  };
  const log = createLogger({
    level: 'info',
    terminalLevel: process.env.DURABATCH_TEST_LOG_LEVEL ?? 'error',
    file: path.join(tctx.dir, 'api.log'),
  });
  const ctx = createApiContext({
    settings: full.api,
    config: full,
    home: tctx.home,
    env,
    tokens: await TokenTable.load(full.api),
    log,
  });
  const app = await buildApiApp(ctx);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    ctx,
    tokens: Object.fromEntries(made.map((t) => [t.name, t.token])),
    async call(method, pathAndQuery, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body = opts.body;
      if (opts.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.json);
      }
      const res = await fetch(url + pathAndQuery, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      if (/json/.test(res.headers.get('content-type') ?? '')) parsed = text ? JSON.parse(text) : undefined;
      return { status: res.status, headers: res.headers, body: parsed as never, text };
    },
    async close() {
      await app.close();
    },
  };
}

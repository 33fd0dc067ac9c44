// A small stand-in for an external HTTP service that durabatch sends items to. It behaves like a real
// one where it matters for correctness: latency, transient 503s, 429s with Retry-After, and
// Idempotency-Key handling, and it records what it received so tests can prove exactly-once effects.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TargetApiOptions {
  port?: number;
  host?: string;
  latencyMs?: [number, number];
  failureRate?: number;
  rateLimitRate?: number;
  retryAfterSeconds?: number;
  seed?: number;
  /** Fail the first N attempts of every idempotency key with 503, regardless of randomness. */
  failFirstAttempts?: number;
}

export interface ReceivedRecord {
  idempotencyKey: string;
  method: string;
  path: string;
  body: unknown;
  attempts: number;
  effects: number;
  firstAt: string;
  lastAt: string;
  lastStatus: number;
}

export interface TargetApiStats {
  requests: number;
  byStatus: Record<string, number>;
  effects: number;
  distinctKeys: number;
  /** Requests being handled right now, and the most there ever were at once. */
  inFlight: number;
  maxInFlight: number;
}

export interface TargetApi {
  url: string;
  port: number;
  close(): Promise<void>;
  received(): ReceivedRecord[];
  stats(): TargetApiStats;
}

interface KeyState extends ReceivedRecord {
  cached?: { status: number; body: unknown };
}

const MAX_BODY_BYTES = 1024 * 1024;

/** mulberry32: tiny, seedable, good enough to make fault sequences reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'request body too large'));
        req.resume(); // drain the rest so the connection can still carry the 413
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

export async function startTargetApi(opts: TargetApiOptions = {}): Promise<TargetApi> {
  const {
    port = 0,
    host = '127.0.0.1',
    latencyMs = [5, 40],
    failureRate = 0.05,
    rateLimitRate = 0.03,
    retryAfterSeconds = 1,
    seed = 42,
    failFirstAttempts = 0,
  } = opts;
  const [latMin, latMax] = latencyMs;
  if (!(latMin >= 0 && latMax >= latMin)) throw new RangeError(`invalid latencyMs [${latMin}, ${latMax}]`);
  if (!(failureRate >= 0 && rateLimitRate >= 0 && failureRate + rateLimitRate <= 1)) {
    throw new RangeError('failureRate and rateLimitRate must be >= 0 and sum to at most 1');
  }

  const random = mulberry32(seed);
  const keys = new Map<string, KeyState>();
  const byStatus: Record<string, number> = {};
  let requests = 0;
  let effects = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let nextId = 1;
  // Aborts pending latency waits so close() is not held up by in-flight requests.
  const closing = new AbortController();

  const stats = (): TargetApiStats => ({
    requests,
    byStatus: { ...byStatus },
    effects,
    distinctKeys: keys.size,
    inFlight,
    maxInFlight,
  });
  const received = (): ReceivedRecord[] =>
    [...keys.values()].map(({ cached: _cached, ...record }) => ({ ...record }));

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<number> {
    const path = url.pathname;
    // Per-request test controls, so one batch can hold slow, failing and healthy items:
    // ?delayMs=N adds latency, ?status=NNN answers that status, ?failAttempts=N fails N attempts with 503.
    const extraDelay = Number(url.searchParams.get('delayMs') ?? 0);
    const forcedStatus = Number(url.searchParams.get('status') ?? 0);
    const failAttempts = Number(url.searchParams.get('failAttempts') ?? 0);
    const rawBody = await readBody(req);
    await sleep(latMin + random() * (latMax - latMin) + extraDelay, undefined, { signal: closing.signal });

    // Everything below runs synchronously, so two concurrent requests with the same key cannot
    // both perform the effect.
    if (req.method !== 'POST') throw new HttpError(405, `method ${req.method} not allowed`);
    const rawKey = req.headers['idempotency-key'];
    const key = Array.isArray(rawKey) ? rawKey[0] : rawKey;
    if (!key) throw new HttpError(400, 'Idempotency-Key header is required');

    const now = new Date().toISOString();
    let state = keys.get(key);
    if (!state) {
      state = {
        idempotencyKey: key,
        method: req.method,
        path,
        body: null,
        attempts: 0,
        effects: 0,
        firstAt: now,
        lastAt: now,
        lastStatus: 0,
      };
      keys.set(key, state);
    }
    state.attempts += 1;
    state.lastAt = now;

    const respond = (status: number, body: unknown, headers?: Record<string, string>): number => {
      state.lastStatus = status;
      send(res, status, body, headers);
      return status;
    };

    // Faults come before the effect: a failed request must leave no trace but the attempt count.
    if (state.attempts <= Math.max(failFirstAttempts, failAttempts)) {
      return respond(503, { error: 'temporarily unavailable' });
    }
    if (forcedStatus >= 400) return respond(forcedStatus, { error: `forced status ${forcedStatus}` });
    const roll = random();
    if (roll < failureRate) return respond(503, { error: 'temporarily unavailable' });
    if (roll < failureRate + rateLimitRate) {
      return respond(429, { error: 'rate limited' }, { 'retry-after': String(retryAfterSeconds) });
    }

    if (state.cached) {
      return respond(state.cached.status, state.cached.body, { 'idempotent-replayed': 'true' });
    }

    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch {
      return respond(400, { error: 'request body is not valid JSON' });
    }

    const prefix = path === '/patients' ? 'pat' : 'obj';
    const result = { id: `${prefix}_${nextId++}`, receivedAt: now, path, data: body };
    state.body = body;
    state.path = path;
    state.effects += 1;
    state.cached = { status: 201, body: result };
    effects += 1;
    return respond(201, result);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;

    // Introspection endpoints: no latency, no faults, not counted in stats.
    if (path === '/_health' && req.method === 'GET') return send(res, 200, { ok: true });
    if (path === '/_received' && req.method === 'GET') {
      return send(res, 200, { stats: stats(), records: received() });
    }

    requests += 1;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let status: number;
    try {
      if (path !== '/patients' && !path.startsWith('/api/')) {
        req.resume();
        throw new HttpError(404, `no route for ${path}`);
      }
      status = await handleApi(req, res, url);
    } catch (err) {
      if (closing.signal.aborted) {
        inFlight -= 1;
        res.destroy();
        return;
      }
      status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      send(res, status, { error: message }, status === 405 ? { allow: 'POST' } : {});
    }
    inFlight -= 1;
    byStatus[status] = (byStatus[status] ?? 0) + 1;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // handle() already maps errors to responses; this is a last resort so nothing is unhandled.
      console.error('target-api: unexpected error', err);
      res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${actualPort}`,
    port: actualPort,
    received,
    stats,
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        closing.abort();
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets (e.g. from global fetch) would otherwise hold close() open.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

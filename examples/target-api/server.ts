// A small stand-in for an external HTTP service that durabatch sends items to. It behaves like a real
// one where it matters for correctness: latency, transient 503s, 429s with Retry-After, and
// Idempotency-Key handling, and it records what it received so tests can prove exactly-once effects.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpError, mulberry32, readBody, send } from './http-util';

export { mulberry32 };

/** The client closed the connection before the answer. */
class ClientGone extends Error {
  override name = 'ClientGone';
}

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
  /**
   * Probability that a request which took effect answers only after `hangMs` (a slow or lost
   * response): the client times out and retries, and the retry must not take effect again.
   */
  hangRate?: number;
  /** How long a hanging response is held back (default 30 s). */
  hangMs?: number;
  /** Bursts of 429 + Retry-After: every `everyMs`, all requests for `lengthMs` are rate limited. */
  rateLimitBursts?: { everyMs: number; lengthMs: number };
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
  /** Responses held back past the client's timeout (hangRate), and requests refused during outages. */
  hung: number;
  /** Requests being handled right now, and the most there ever were at once. */
  inFlight: number;
  maxInFlight: number;
  /** Requests whose client closed the connection before the answer (a cancelled item): no effect. */
  abandoned: number;
  /** When the last abandoned request's connection closed (epoch ms), for cancellation tests. */
  lastAbandonedAt: number | null;
}

export interface TargetApi {
  url: string;
  port: number;
  close(): Promise<void>;
  received(): ReceivedRecord[];
  stats(): TargetApiStats;
  /** Unreachable for `ms`: the listener closes and open connections are dropped, then it listens again on the same port. */
  outage(ms: number): Promise<void>;
}

interface KeyState extends ReceivedRecord {
  cached?: { status: number; body: unknown };
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
    hangRate = 0,
    hangMs = 30_000,
    rateLimitBursts,
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
  let hung = 0;
  let abandoned = 0;
  let lastAbandonedAt: number | null = null;
  const bornAt = Date.now();
  const inBurst = () =>
    rateLimitBursts !== undefined &&
    (Date.now() - bornAt) % rateLimitBursts.everyMs < rateLimitBursts.lengthMs;
  let nextId = 1;
  // Aborts pending latency waits so close() is not held up by in-flight requests.
  const closing = new AbortController();

  const stats = (): TargetApiStats => ({
    requests,
    byStatus: { ...byStatus },
    effects,
    distinctKeys: keys.size,
    hung,
    inFlight,
    maxInFlight,
    abandoned,
    lastAbandonedAt,
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
    // Like a real service whose work is cut short when its client hangs up: a request whose
    // connection closes during the latency takes no effect.
    const hungUp = new AbortController();
    res.once('close', () => {
      if (!res.writableEnded) hungUp.abort();
    });
    const latency = latMin + random() * (latMax - latMin) + extraDelay;
    await sleep(latency, undefined, { signal: AbortSignal.any([closing.signal, hungUp.signal]) }).catch(
      (err: unknown) => {
        throw hungUp.signal.aborted ? new ClientGone() : err;
      },
    );

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
    if (inBurst()) {
      return respond(429, { error: 'rate limited (burst)' }, { 'retry-after': String(retryAfterSeconds) });
    }
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
    if (random() < hangRate) {
      // The effect happened; the answer comes too late for the client, which retries.
      hung += 1;
      await sleep(hangMs, undefined, { signal: closing.signal }).catch(() => undefined);
    }
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
      if (closing.signal.aborted || err instanceof ClientGone) {
        if (err instanceof ClientGone) {
          abandoned += 1;
          lastAbandonedAt = Date.now();
        }
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

  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(port);
  const actualPort = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${actualPort}`,
    port: actualPort,
    received,
    stats,
    async outage(ms) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await sleep(ms);
      if (!closing.signal.aborted) await listen(actualPort);
    },
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

// The http processor: one request per attempt. Temporal's retry policy does the retrying; this code
// only classifies the answer: 2xx success, 408/429/5xx and network errors retryable (Retry-After
// honoured through nextRetryDelay), any other status non-retryable.
import { ApplicationFailure } from '@temporalio/activity';
import type { HttpProcessorSpec, Item } from '../../workflows/types';
import { expandUrl, renderBody, resolveEnvRefs } from './template';

const EXCERPT = 300;

export interface HttpCallInput {
  spec: HttpProcessorSpec;
  item: Item;
  idempotencyKey: string;
  attempt: number;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

export interface HttpCallResult {
  httpStatus: number;
  output: string;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds, capped at 10 minutes. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 600_000) : undefined;
}

export async function callHttp(input: HttpCallInput): Promise<HttpCallResult> {
  const { spec, item, attempt } = input;
  let url: string;
  let headers: Record<string, string>;
  let body: string | undefined;
  try {
    url = expandUrl(spec.url, item);
    headers = Object.fromEntries(Object.entries(spec.headers).map(([k, v]) => [k, resolveEnvRefs(v, input.env)]));
    if (spec.method !== 'GET' && spec.method !== 'HEAD') {
      body = JSON.stringify(renderBody(spec.body, item));
      headers['content-type'] ??= 'application/json';
    }
  } catch (err) {
    // A template or configuration problem fails the same way on every attempt.
    throw ApplicationFailure.nonRetryable(`cannot build the request: ${(err as Error).message}`, 'InputError', { attempt });
  }
  headers['idempotency-key'] = input.idempotencyKey;

  let res: Response;
  try {
    res = await fetch(url, {
      method: spec.method,
      headers,
      body,
      signal: AbortSignal.any([input.signal, AbortSignal.timeout(spec.timeoutMs)]),
    });
  } catch (err) {
    // Cancelled item: surface Temporal's cancellation, not a network error.
    if (input.signal.aborted) throw input.signal.reason;
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${spec.timeoutMs} ms` : `${e.cause?.code ?? e.name}: ${e.message}`;
    throw ApplicationFailure.retryable(`${spec.method} ${url} failed: ${why}`, 'TransientTargetError', { attempt });
  }
  const text = await res.text().catch(() => '');
  const excerpt = text.length > EXCERPT ? `${text.slice(0, EXCERPT)}…` : text;
  if (res.ok) return { httpStatus: res.status, output: excerpt };

  const message = `${spec.method} ${url} answered ${res.status} ${res.statusText}: ${excerpt}`;
  const details = { attempt, httpStatus: res.status };
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    throw ApplicationFailure.create({
      message,
      type: 'TransientTargetError',
      details: [details],
      nextRetryDelay: parseRetryAfter(res.headers.get('retry-after')),
    });
  }
  throw ApplicationFailure.nonRetryable(message, 'PermanentTargetError', details);
}

// The http processor: one request per attempt. Temporal's retry policy does the retrying; this code
// only classifies the answer: 2xx success, 408/429/5xx and network errors retryable (Retry-After
// honoured through nextRetryDelay), any other status non-retryable.
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/activity';
import { Agent, fetch, type RequestInit, type Response } from 'undici';
import type { HttpProcessorSpec } from '../../workflows/types';
import { boundedBody, excerpt, type ProcessorContext, type ProcessorOutcome } from './context';
import { expandUrl, renderBody, resolveEnvRefs } from './template';
import { FileChangedError, uploadBody, type FormSpec, type UploadBody } from './upload-body';
import { checkItemFile } from '../../src/source/item-file';
import { costValue } from '../../workflows/cost';
import { FailureType } from '../../workflows/failure-types';
import { logFailure, logRequest, logResponse } from './http-log';

/**
 * Connections per target origin, shared by every item on this worker (a connection limit); one agent
 * per connection limit and TLS identity. Certificate files are read when the agent is made: a renewed
 * certificate takes effect when the worker restarts.
 */
const agents = new Map<string, Agent>();
function agentFor(connections: number, tls: HttpProcessorSpec['tls'], env: NodeJS.ProcessEnv): Agent {
  const id = JSON.stringify([connections, tls ?? null]);
  let agent = agents.get(id);
  if (!agent) {
    agent = new Agent({
      connections,
      keepAliveTimeout: 10_000,
      ...(tls ? { connect: tlsOptions(tls, env) } : {}),
    });
    agents.set(id, agent);
  }
  return agent;
}

function passphraseOf(ref: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (ref === undefined) return undefined;
  try {
    return resolveEnvRefs(ref, env);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `http.clientKeyPassphrase: ${(err as Error).message}`,
      FailureType.InputError,
    );
  }
}

function tlsOptions(tls: NonNullable<HttpProcessorSpec['tls']>, env: NodeJS.ProcessEnv) {
  const read = (setting: string, file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw ApplicationFailure.nonRetryable(
        `cannot read ${setting} ${file} on this worker: ${(err as Error).message}`,
        FailureType.InputError,
      );
    }
  };
  return {
    cert: read('http.clientCert', tls.cert),
    key: read('http.clientKey', tls.key),
    ca: read('http.ca', tls.ca),
    passphrase: passphraseOf(tls.passphrase, env),
  };
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds, capped at 10 minutes. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 600_000) : undefined;
}

/**
 * The cost a successful answer states (`costFrom`: a JSON pointer into the body, or `header:<name>`).
 * The call took effect, so a missing or unreadable cost never fails the item: it is logged and the
 * batch's own cost setting (costPerItem / costField) counts instead.
 */
export function costOf(
  costFrom: string,
  res: { headers: { get(name: string): string | null } },
  body: unknown,
  ctx: Pick<ProcessorContext, 'log'>,
): number | undefined {
  let raw: unknown;
  if (costFrom.startsWith('header:')) raw = res.headers.get(costFrom.slice('header:'.length)) ?? undefined;
  else raw = jsonPointer(body, costFrom);
  const cost = costValue(raw);
  if (cost !== undefined) return cost;
  ctx.log.warn(
    { costFrom, found: raw === undefined ? 'nothing' : excerpt(JSON.stringify(raw), 80) },
    `costFrom ${costFrom}: the answer holds no cost there (a number >= 0 is needed); the batch's costPerItem/costField counts instead`,
  );
  return undefined;
}

/** RFC 6901: `/a/0/b`, with `~1` for `/` and `~0` for `~` in names. */
function jsonPointer(doc: unknown, pointer: string): unknown {
  let at: unknown = doc;
  for (const part of pointer.split('/').slice(1)) {
    const name = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[name];
  }
  return at;
}

/** The item's file for raw/multipart uploads: a directory source puts its absolute path in `path`. */
function itemFile(ctx: ProcessorContext): string {
  const p = ctx.item.data.path;
  if (typeof p !== 'string' || p === '') {
    throw new Error('bodyMode raw/multipart needs a directory source (items with a "path" field)');
  }
  return p;
}

interface BuiltBody {
  body?: RequestInit['body'];
  /** Set for raw/multipart: a streamed file the request must close when it is over. */
  upload?: UploadBody;
}

/** Builds the request body. Files are streamed from disk in chunks, never read whole. */
async function buildBody(
  spec: HttpProcessorSpec,
  ctx: ProcessorContext,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<BuiltBody> {
  if (spec.method === 'GET' || spec.method === 'HEAD') return {};
  const mode = spec.bodyMode ?? 'json';
  if (mode === 'raw' || mode === 'multipart') {
    const file = itemFile(ctx);
    await checkItemFile(ctx.item); // still the staged file, not a link out of its directory
    let form: FormSpec | undefined;
    if (mode === 'multipart') {
      const fields: [string, string][] = [];
      for (const [k, v] of Object.entries(ctx.item.data)) {
        if (k === 'path' || v === undefined || v === null) continue;
        fields.push([k, typeof v === 'string' ? v : JSON.stringify(v)]);
      }
      const name =
        typeof ctx.item.data.file === 'string' ? ctx.item.data.file.split('/').pop() : ctx.item.key;
      form = { fields, fileField: spec.fileField ?? 'file', fileName: name ?? '' };
    }
    const upload = await uploadBody(file, signal, form);
    // The boundary is in the body: a configured multipart content type could not match it.
    if (upload.contentType) headers['content-type'] = upload.contentType;
    headers['content-type'] ??= 'application/octet-stream';
    headers['content-length'] = String(upload.contentLength);
    return { body: upload.body, upload };
  }
  headers['content-type'] ??= 'application/json';
  return { body: JSON.stringify(renderBody(spec.body, ctx.item, ctx.steps)) };
}

export async function runHttp(
  spec: HttpProcessorSpec & { connections?: number },
  ctx: ProcessorContext,
): Promise<ProcessorOutcome> {
  const { attempt } = ctx;
  // First: a certificate that cannot be read is a setting to fix, not a network error.
  const dispatcher = agentFor(spec.connections ?? 64, spec.tls, ctx.env);
  let url: string;
  let headers: Record<string, string>;
  let built: BuiltBody;
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(spec.timeoutMs)]);
  try {
    url = expandUrl(spec.url, ctx.item, ctx.steps);
    headers = Object.fromEntries(
      Object.entries(spec.headers).map(([k, v]) => [k.toLowerCase(), resolveEnvRefs(v, ctx.env)]),
    );
    built = await buildBody(spec, ctx, headers, signal);
  } catch (err) {
    // A template, file or configuration problem fails the same way on every attempt.
    throw ApplicationFailure.nonRetryable(
      `cannot build the request: ${(err as Error).message}`,
      FailureType.InputError,
      { attempt },
    );
  }
  headers['idempotency-key'] = ctx.idempotencyKey;
  const logged = logRequest(ctx.log, spec, url, headers, {
    text: typeof built.body === 'string' ? built.body : undefined,
    file: built.upload ? itemFile(ctx) : undefined,
    bytes: built.upload?.contentLength,
  });

  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: spec.method,
      headers,
      body: built.body,
      signal,
      dispatcher,
      // To replay a body on a redirect, fetch keeps a second copy of a streamed body that nothing
      // reads, so it buffers the whole file (300 MB of RSS for a 300 MB file). Uploads refuse
      // redirects instead; a 301/302/303 would have resent the request without the file anyway.
      ...(built.upload ? { duplex: 'half', redirect: 'error' } : {}),
    });
    text = await res.text().catch(() => '');
  } catch (err) {
    const e = err as Error & { cause?: Error & { code?: string } };
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${spec.timeoutMs} ms`
        : `${e.cause?.code ?? e.name}: ${e.cause?.message ?? e.message}`;
    logFailure(ctx.log, logged, ctx.signal.aborted ? 'cancelled' : why);
    // Cancelled item: surface Temporal's cancellation, not a network error.
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (e.cause instanceof FileChangedError) {
      throw ApplicationFailure.retryable(e.cause.message, FailureType.FileChanged, { attempt });
    }
    if (built.upload && e.cause?.message === 'unexpected redirect') {
      throw ApplicationFailure.nonRetryable(
        `${spec.method} ${url} answered with a redirect; uploads do not follow redirects (the file ` +
          'is streamed once): set the url to the address the upload should go to',
        FailureType.PermanentTargetError,
        { attempt },
      );
    }
    throw ApplicationFailure.retryable(
      `${spec.method} ${url} failed: ${why}`,
      FailureType.TransientTargetError,
      {
        attempt,
      },
    );
  } finally {
    // Whatever happened, the file is not read any further.
    built.upload?.close();
  }
  logResponse(ctx.log, logged, res, text);
  if (res.ok) {
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const cost = spec.costFrom ? costOf(spec.costFrom, res, parsed, ctx) : undefined;
    return { httpStatus: res.status, output: excerpt(text), body: boundedBody(parsed), cost };
  }

  const message = `${spec.method} ${url} answered ${res.status} ${res.statusText}: ${excerpt(text)}`;
  const details = { attempt, httpStatus: res.status };
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    throw ApplicationFailure.create({
      message,
      type: FailureType.TransientTargetError,
      details: [details],
      nextRetryDelay: parseRetryAfter(res.headers.get('retry-after')),
    });
  }
  throw ApplicationFailure.nonRetryable(message, FailureType.PermanentTargetError, details);
}

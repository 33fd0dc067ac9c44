// The http processor: one request per attempt. Temporal's retry policy does the retrying; this code
// only classifies the answer: 2xx success, 408/429/5xx, network errors and bodies cut short
// retryable (Retry-After honoured through nextRetryDelay), any other status non-retryable. Errors
// before sending are input errors; redirects are followed within one origin only; the answer's body
// is read under a byte cap, and once a request took effect nothing in reading its answer retries it.
import { ApplicationFailure } from '@temporalio/activity';
import { Agent, fetch, Headers, type RequestInit, type Response } from 'undici';
import type { HttpProcessorSpec } from '../../workflows/types';
import {
  boundedBody,
  excerpt,
  MAX_BODY_CHARS,
  type ProcessorContext,
  type ProcessorOutcome,
} from './context';
import {
  AnswerTooLargeError,
  DEFAULT_MAX_RESPONSE_BYTES,
  ERROR_ANSWER_BYTES,
  parseAnswer,
  readAnswer,
  readAnswerStart,
  type AnswerProgress,
} from './http-answer';
import { idempotencyHeader } from './idempotency-header';
import { expandUrl, renderBody, resolveEnvRefs } from './template';
import { FileChangedError, uploadBody, type FormSpec, type UploadBody } from './upload-body';
import { stagedItemFile } from '../../src/source/item-file';
import { costValue } from '../../workflows/cost';
import { FailureType } from '../../workflows/failure-types';
import { logFailure, logRequest, logResponse, type HttpAttemptLog } from './http-log';
import { maskUrl } from '../../src/logging/secrets';
import { readFileBoundedSync } from '../../src/util/bounded-read';

/** Certificates, keys and CA bundles are kilobytes; the system's whole CA bundle is under 1 MiB. */
const MAX_TLS_FILE_BYTES = 4 * 1024 * 1024;

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
      // A FIFO or a huge file named here would block or fill the worker: certificates are small.
      return readFileBoundedSync(file, MAX_TLS_FILE_BYTES, {
        what: `${setting} ${file}`,
        hint: 'a PEM file',
      });
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
    { costFrom, found: raw === undefined ? 'nothing' : excerpt(printable(raw), 80) },
    `costFrom ${costFrom}: the answer holds no cost there (a number >= 0 is needed); the batch's costPerItem/costField counts instead`,
  );
  return undefined;
}

/** A value's JSON for a message, or a placeholder when it has none (too deep to print, say). */
function printable(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return `[${typeof value} that cannot be printed]`;
  }
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

interface BuiltBody {
  body?: RequestInit['body'];
  /** Set for raw/multipart: a streamed file the request must close when it is over. */
  upload?: UploadBody;
  /** The file streamed, for the request log. */
  file?: string;
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
    // Only a directory item's own file, still inside its directory: never a row's `path` field.
    const file = await stagedItemFile(ctx.item, `bodyMode ${mode}`);
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
    return { body: upload.body, upload, file };
  }
  headers['content-type'] ??= 'application/json';
  return { body: JSON.stringify(renderBody(spec.body, ctx.item, ctx.steps)) };
}

/** Same-origin redirects followed per attempt at most (fetch's own limit is 20). */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * A URL the request can be sent to, or an error saying why not. Checked here so that a bad URL is
 * an input error, not a network error that retries.
 */
function checkedUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${url} is not a valid URL: check http.url and the values it takes`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`${url} is not an http(s) URL: http.url must start with http:// or https://`);
  }
  return url;
}

/**
 * Refuses a header undici would refuse (inside fetch, before sending) with a message that names
 * the header but never shows its value: a resolved `${env:…}` value is a secret.
 */
function checkHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    try {
      new Headers([[name, value]]);
    } catch {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
        throw new Error(`header name "${name}" is not a valid HTTP header name: fix it in http.headers`);
      }
      const why = /[\r\n\0]/.test(value)
        ? 'a line break or NUL character'
        : [...value].some((c) => c.codePointAt(0)! > 0xff)
          ? 'a character above U+00FF'
          : 'a character HTTP headers cannot carry';
      throw new Error(
        `header ${name}: its value holds ${why} (value not shown: it may be a secret); fix http.headers ` +
          'or the environment variable it references on the worker',
      );
    }
  }
}

/** The outcome of an attempt that failed before anything was sent: the same on every attempt. */
function notSent(message: string, attempt: number): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`cannot send the request: ${message}`, FailureType.InputError, {
    attempt,
  });
}

/**
 * Sends the request, following same-origin redirects (at most MAX_REDIRECTS). A redirect to another
 * origin is not followed: configured headers (API keys), the idempotency key and the body never
 * cross origins, and another host's answer must not become the item's output.
 */
async function exchange(
  spec: HttpProcessorSpec,
  url: string,
  headers: Record<string, string>,
  built: BuiltBody,
  signal: AbortSignal,
  dispatcher: Agent,
  ctx: Pick<ProcessorContext, 'attempt' | 'log'>,
): Promise<Response> {
  let current = url;
  let method = spec.method;
  let body = built.body;
  for (let hop = 0; ; hop++) {
    const res = await fetch(current, {
      method,
      headers,
      body,
      signal,
      dispatcher,
      // To replay a body on a redirect, fetch keeps a second copy of a streamed body that nothing
      // reads, so it buffers the whole file (300 MB of RSS for a 300 MB file) unless redirects are
      // errors. Uploads refuse redirects; a 301/302/303 would have resent without the file anyway.
      ...(built.upload ? { duplex: 'half', redirect: 'error' } : { redirect: 'manual' }),
    });
    const location = REDIRECT_STATUSES.has(res.status) ? res.headers.get('location') : null;
    if (location === null) return res; // an answer (a 3xx without Location is one too, as in fetch)
    try {
      await res.body?.cancel();
    } catch {
      // The redirect's own body is never used; a failure to discard it changes nothing.
    }
    const from = new URL(current);
    let to: URL;
    try {
      to = new URL(location, from);
    } catch {
      throw ApplicationFailure.nonRetryable(
        `${method} ${current} answered ${res.status} with an invalid Location (${location}): set ` +
          'the url to the address that answers',
        FailureType.PermanentTargetError,
        { attempt: ctx.attempt, httpStatus: res.status },
      );
    }
    const refused = (why: string) =>
      ApplicationFailure.nonRetryable(
        `${method} ${current} answered ${res.status}, a redirect from ${from.origin} to ${why}: not ` +
          "followed, since the request's headers, idempotency key and body never cross origins. " +
          `Set the url to the final address (${to.origin}…) if that target is meant to get them`,
        FailureType.PermanentTargetError,
        { attempt: ctx.attempt, httpStatus: res.status },
      );
    if (to.origin !== from.origin) throw refused(`another origin, ${to.origin}`);
    // Credentials in a Location would send a login the user never configured.
    if (to.username !== '' || to.password !== '') throw refused('an address with credentials');
    if (hop >= MAX_REDIRECTS) {
      throw ApplicationFailure.nonRetryable(
        `${spec.method} ${url} redirected more than ${MAX_REDIRECTS} times (last to ${maskUrl(to.href)}): ` +
          'set the url to the final address',
        FailureType.PermanentTargetError,
        { attempt: ctx.attempt, httpStatus: res.status },
      );
    }
    ctx.log.debug(
      { status: res.status, location: maskUrl(to.href) },
      `http ${method} redirected ${res.status} to ${maskUrl(to.href)} (same origin: followed)`,
    );
    // As fetch does: a 303, or a 301/302 of a POST, continues as a GET without the body.
    if (
      res.status === 303 ? method !== 'HEAD' : (res.status === 301 || res.status === 302) && method === 'POST'
    ) {
      method = 'GET';
      body = undefined;
      delete headers['content-type'];
      delete headers['content-length'];
    }
    current = to.href;
  }
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
  // Aborted when the answer passes its byte cap: that closes the connection mid-body.
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(spec.timeoutMs), stop.signal]);
  try {
    url = checkedUrl(expandUrl(spec.url, ctx.item, ctx.steps));
    headers = Object.fromEntries(
      Object.entries(spec.headers).map(([k, v]) => [k.toLowerCase(), resolveEnvRefs(v, ctx.env)]),
    );
    checkHeaders(headers);
    built = await buildBody(spec, ctx, headers, signal);
  } catch (err) {
    // A template, file or configuration problem fails the same way on every attempt.
    throw ApplicationFailure.nonRetryable(
      `cannot build the request: ${(err as Error).message}`,
      FailureType.InputError,
      { attempt },
    );
  }
  headers['idempotency-key'] = idempotencyHeader(ctx.idempotencyKey);
  const logged = logRequest(ctx.log, spec, url, headers, {
    text: typeof built.body === 'string' ? built.body : undefined,
    file: built.file,
    bytes: built.upload?.contentLength,
  });

  let res: Response;
  try {
    res = await exchange(spec, url, headers, built, signal, dispatcher, ctx);
  } catch (err) {
    built.upload?.close();
    throw failedExchange(err, spec, url, built, ctx, logged);
  }
  const limit = spec.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const progress: AnswerProgress = { bytes: 0 };
  let text: string;
  try {
    text = res.ok
      ? await readAnswer(res, limit, progress, (reason) => stop.abort(reason))
      : await readAnswerStart(res, ERROR_ANSWER_BYTES);
  } catch (err) {
    throw failedAnswer(err, spec, url, res.status, limit, progress, ctx, logged);
  } finally {
    // Whatever happened, the file is not read any further.
    built.upload?.close();
  }
  if (res.ok) return succeeded(spec, res, text, ctx, logged);

  logResponse(ctx.log, logged, res, text);
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

/** The failure of an attempt whose request got no answer: sent or not, and whether to retry. */
function failedExchange(
  err: unknown,
  spec: HttpProcessorSpec,
  url: string,
  built: BuiltBody,
  ctx: ProcessorContext,
  logged: HttpAttemptLog,
): unknown {
  const { attempt } = ctx;
  if (err instanceof ApplicationFailure) {
    logFailure(ctx.log, logged, err.message);
    return err; // a redirect that is not followed
  }
  const e = err as Error & { cause?: Error & { code?: string } };
  // undici rejects with "fetch failed" once the request went to the network; anything else (an
  // invalid header value, URL or body) was thrown while building it: nothing was sent, and the
  // next attempt would fail the same way.
  const network =
    e.name === 'TimeoutError' ||
    e.name === 'AbortError' ||
    (e instanceof TypeError && e.message === 'fetch failed');
  const why =
    e.name === 'TimeoutError'
      ? `no answer within ${spec.timeoutMs} ms`
      : `${e.cause?.code ?? e.name}: ${e.cause?.message ?? e.message}`;
  logFailure(ctx.log, logged, ctx.signal.aborted ? 'cancelled' : why);
  // Cancelled item: surface Temporal's cancellation, not a network error.
  if (ctx.signal.aborted) return ctx.signal.reason;
  if (!network) return notSent(`${e.name}: ${e.message}`, attempt);
  if (e.cause instanceof FileChangedError) {
    return ApplicationFailure.retryable(e.cause.message, FailureType.FileChanged, { attempt });
  }
  if (built.upload && e.cause?.message === 'unexpected redirect') {
    return ApplicationFailure.nonRetryable(
      `${spec.method} ${url} answered with a redirect; uploads do not follow redirects (the file ` +
        'is streamed once): set the url to the address the upload should go to',
      FailureType.PermanentTargetError,
      { attempt },
    );
  }
  return ApplicationFailure.retryable(
    `${spec.method} ${url} failed: ${why}`,
    FailureType.TransientTargetError,
    {
      attempt,
    },
  );
}

/** The failure of an attempt whose 2xx answer's body was too large or did not arrive whole. */
function failedAnswer(
  err: unknown,
  spec: HttpProcessorSpec,
  url: string,
  status: number,
  limit: number,
  progress: AnswerProgress,
  ctx: ProcessorContext,
  logged: HttpAttemptLog,
): unknown {
  const { attempt } = ctx;
  const details = { attempt, httpStatus: status };
  if (err instanceof AnswerTooLargeError) {
    logFailure(ctx.log, logged, err.message);
    // Not retried: the target already acted on the request and answers the same way again; a
    // retry would only repeat the call. Raising the cap (or fixing the target) is the way out.
    return ApplicationFailure.nonRetryable(
      `${spec.method} ${url} answered ${status} with a body larger than ${limit} bytes (decompressed); ` +
        'reading stopped there. Raise http.maxResponseBytes if answers this large are expected',
      FailureType.ResponseTooLarge,
      details,
    );
  }
  const e = err as Error & { cause?: Error & { code?: string } };
  const why =
    e.name === 'TimeoutError'
      ? `the rest did not arrive within ${spec.timeoutMs} ms`
      : `${e.cause?.code ?? e.name}: ${e.cause?.message ?? e.message}`;
  logFailure(ctx.log, logged, ctx.signal.aborted ? 'cancelled' : `answer cut short: ${why}`);
  if (ctx.signal.aborted) return ctx.signal.reason;
  // A partial answer is not the answer: succeeding with it would hand later steps empty values.
  return ApplicationFailure.retryable(
    `${spec.method} ${url} answered ${status} but its body was cut short after ${progress.bytes} ` +
      `bytes (${why}); retried under the same Idempotency-Key`,
    FailureType.TransientTargetError,
    details,
  );
}

/**
 * The outcome of a 2xx answer. The request took effect, so nothing here may fail the attempt (a
 * failure would send the request again): a body too deep or too large is dropped with a warning,
 * and anything unexpected still leaves the status and the excerpt.
 */
function succeeded(
  spec: HttpProcessorSpec,
  res: Response,
  text: string,
  ctx: ProcessorContext,
  logged: HttpAttemptLog,
): ProcessorOutcome {
  try {
    logResponse(ctx.log, logged, res, text);
    const parsed = parseAnswer(text, ctx.log);
    const cost = spec.costFrom ? costOf(spec.costFrom, res, parsed, ctx) : undefined;
    return { httpStatus: res.status, output: excerpt(text), body: boundedBody(parsed), cost };
  } catch (err) {
    ctx.log.warn(
      { err: (err as Error).message },
      'the answer could not be read into the outcome; the item keeps its status and excerpt only',
    );
    return { httpStatus: res.status, output: excerpt(text.slice(0, MAX_BODY_CHARS)) };
  }
}

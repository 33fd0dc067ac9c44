// What the http processor logs per attempt. debug: method, URL, status and latency (one line per
// answer or failure). trace: also the request and the response, headers and bodies. URLs, headers
// and JSON bodies are masked (src/logging/secrets.ts); bodies are cut (src/logging/log-text.ts).
import type { Logger } from 'pino';
import type { HttpProcessorSpec } from '../../workflows/types';
import { loggedText } from '../../src/logging/log-text';
import { maskHeaders, maskUrl } from '../../src/logging/secrets';

export interface HttpAttemptLog {
  method: string;
  /** The URL with credentials and secret query parameters masked. */
  url: string;
  started: number;
}

export function logRequest(
  log: Logger,
  spec: HttpProcessorSpec,
  url: string,
  headers: Record<string, string>,
  body: { text?: string; file?: string; bytes?: number },
): HttpAttemptLog {
  const attempt = { method: spec.method, url: maskUrl(url), started: performance.now() };
  if (log.isLevelEnabled('trace')) {
    // A streamed file is not read for the log: its path and size say what was sent.
    const shown =
      body.file !== undefined
        ? { requestFile: body.file, requestBytes: body.bytes }
        : body.text !== undefined
          ? loggedText('requestBody', body.text)
          : {};
    log.trace(
      {
        method: attempt.method,
        url: attempt.url,
        requestHeaders: maskHeaders(headers, spec.headers),
        ...shown,
      },
      `http request ${attempt.method} ${attempt.url}`,
    );
  }
  return attempt;
}

const elapsed = (a: HttpAttemptLog) => Math.round(performance.now() - a.started);

export function logResponse(
  log: Logger,
  attempt: HttpAttemptLog,
  res: { status: number; headers: Iterable<[string, string]> },
  text: string,
): void {
  const latencyMs = elapsed(attempt);
  const { method, url } = attempt;
  const line = { method, url, status: res.status, latencyMs };
  log.debug(line, `http ${method} ${url} answered ${res.status} in ${latencyMs} ms`);
  if (log.isLevelEnabled('trace')) {
    log.trace(
      { ...line, responseHeaders: maskHeaders(res.headers), ...loggedText('responseBody', text) },
      `http response ${res.status} from ${method} ${url}`,
    );
  }
}

export function logFailure(log: Logger, attempt: HttpAttemptLog, why: string): void {
  const latencyMs = elapsed(attempt);
  const { method, url } = attempt;
  log.debug(
    { method, url, latencyMs, error: why },
    `http ${method} ${url} failed after ${latencyMs} ms: ${why}`,
  );
}

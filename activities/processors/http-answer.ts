// Reading a target's answer: streamed and counted after decompression (undici inflates gzip, br
// and deflate before the body reaches us), so an endless body or a gzip bomb stops at a byte cap
// instead of taking the worker's memory; parsed with a depth bound, so a hostile nesting cannot
// make building the outcome throw after the request took effect.
import type { Logger } from 'pino';
import type { Response } from 'undici';
import { bodyShape, MAX_BODY_DEPTH } from './context';

/** Default cap of a successful answer's body (decompressed bytes), per attempt. */
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/** What is read of a failed (non-2xx) answer: its status decides; the text is only an excerpt. */
export const ERROR_ANSWER_BYTES = 64 * 1024;

/** The answer's body went past its cap: reading stopped there and the connection was closed. */
export class AnswerTooLargeError extends Error {
  override name = 'AnswerTooLargeError';
  constructor(readonly limit: number) {
    super(`the answer's body is larger than ${limit} bytes (decompressed)`);
  }
}

/** Bytes of the body that arrived so far: what a message about a body cut short reports. */
export interface AnswerProgress {
  bytes: number;
}

/**
 * The whole body as text (UTF-8, as `Response.text()` decodes it). Throws AnswerTooLargeError past
 * `limit` bytes (after calling `stop`, which aborts the exchange), and whatever the stream throws
 * when the body stops early (a dropped connection, a short Content-Length, the timeout).
 */
export async function readAnswer(
  res: Response,
  limit: number,
  progress: AnswerProgress,
  stop: (reason: Error) => void,
): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    progress.bytes += chunk.byteLength;
    if (progress.bytes > limit) {
      const err = new AnswerTooLargeError(limit);
      stop(err);
      throw err;
    }
    chunks.push(chunk);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * The start of a failed answer's body, for its message: at most `limit` bytes, then the rest is
 * left unread. Its status already decided the outcome, so a body that breaks off midway keeps what
 * arrived rather than turning, say, a 422 into a network error.
 */
export async function readAnswerStart(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      chunks.push(chunk);
      bytes += chunk.byteLength;
      if (bytes >= limit) break; // leaving the loop cancels the rest of the body
    }
  } catch {
    // Deliberate: see above; the excerpt shows what arrived.
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit));
}

/**
 * The answer parsed as JSON, for costFrom and (through boundedBody) `{steps.<name>.body…}`;
 * undefined when it is not JSON. Warns when it nests deeper than MAX_BODY_DEPTH: boundedBody drops
 * such a body, since serialising it would overflow the stack. Never throws.
 */
export function parseAnswer(text: string, log: Pick<Logger, 'warn'>): unknown {
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    return undefined; // not JSON: the output excerpt is the answer
  }
  if (parsed !== undefined && bodyShape(parsed) === 'too-deep') {
    log.warn(
      { maxDepth: MAX_BODY_DEPTH, bodyChars: text.length },
      `the answer nests deeper than ${MAX_BODY_DEPTH} levels: its parsed body is dropped (later ` +
        'steps read no {steps.<name>.body…}); the output excerpt is kept and the item succeeds',
    );
  }
  return parsed;
}

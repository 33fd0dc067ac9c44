// Reading what comes from outside — a file a user names, a URL's body — with a byte cap: a huge
// file, an endless body or a FIFO that never ends would otherwise take the process's memory or hang
// it. Past the cap reading stops (the stream is cancelled, the file closed) and an InputError says
// which input, which limit and how to fix it.
import { readFileSync, statSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { InputError } from '../errors';

/** `10485760` → `10 MiB`, for messages. */
export function describeBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** How to name the input in messages, and how to fix a refusal. */
export interface InputNaming {
  /** e.g. `the effects ledger /tmp/x.jsonl`. */
  what: string;
  /** e.g. `check --effects`. */
  hint: string;
}

function tooLarge(limit: number, naming: InputNaming): InputError {
  return new InputError(
    `${naming.what} is larger than ${describeBytes(limit)}, the most durabatch reads of it`,
    naming.hint,
  );
}

/**
 * A regular file's contents as UTF-8, at most `limit` bytes. Refuses anything but a regular file
 * (a FIFO, a device, a directory) before opening it, and stops reading past `limit` even if the
 * file grows while it is read. Other failures (missing, unreadable) are thrown as they come.
 */
export async function readFileBounded(file: string, limit: number, naming: InputNaming): Promise<string> {
  const st = await stat(file);
  if (!st.isFile()) {
    throw new InputError(`${naming.what} is not a regular file (a FIFO, device or directory)`, naming.hint);
  }
  if (st.size > limit) throw tooLarge(limit, naming);
  const handle = await open(file, 'r');
  try {
    // One byte more than the limit: that byte arriving means the file grew past it.
    const buf = Buffer.alloc(Math.min(limit, st.size) + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, filled, buf.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled === buf.length) {
        if (filled > limit) throw tooLarge(limit, naming);
        break;
      }
    }
    return buf.subarray(0, filled).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * A fetch Response's body as UTF-8 text, at most `limit` bytes (after decompression, as fetch
 * hands it over). Past it the body is cancelled (the connection closed) and InputError thrown.
 */
export async function readResponseBounded(
  res: Response,
  limit: number,
  naming: InputNaming,
): Promise<string> {
  if (!res.body) return '';
  const declared = Number(res.headers.get('content-length'));
  const reader = res.body.getReader();
  if (Number.isFinite(declared) && declared > limit && !res.headers.get('content-encoding')) {
    await reader.cancel().catch(() => undefined);
    throw tooLarge(limit, naming);
  }
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = (await reader.read()) as { done: boolean; value: Uint8Array };
    if (done) break;
    bytes += value.byteLength;
    if (bytes > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit, naming);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * The synchronous form, for small files read where no await is possible (keys, certificates): a
 * FIFO here would block the whole process, not just one read.
 */
export function readFileBoundedSync(file: string, limit: number, naming: InputNaming): Buffer {
  const st = statSync(file);
  if (!st.isFile()) {
    throw new InputError(`${naming.what} is not a regular file (a FIFO, device or directory)`, naming.hint);
  }
  if (st.size > limit) throw tooLarge(limit, naming);
  const buf = readFileSync(file);
  if (buf.length > limit) throw tooLarge(limit, naming);
  return buf;
}

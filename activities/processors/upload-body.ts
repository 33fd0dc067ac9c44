// Request bodies for file uploads (bodyMode raw and multipart), streamed from disk one chunk at a
// time with a known Content-Length. The body owns its file stream so that it can close it at once
// when the request is aborted (cancelled item, timeout) or the exchange ends early: a Blob from
// openAsBlob went on reading the rest of the file after an abort before releasing it.
import { randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';

/** The multipart part of an upload: the item's fields as text parts, then the file part. */
export interface FormSpec {
  fields: [name: string, value: string][];
  fileField: string;
  fileName: string;
}

export interface UploadBody {
  body: AsyncIterable<Uint8Array>;
  /** `multipart/form-data; boundary=…` for multipart; undefined for raw. */
  contentType?: string;
  contentLength: number;
  /** Closes the file if it is still open; safe to call more than once. */
  close(): void;
}

/** The file's size changed between the start of the request and its end: the body is wrong. */
export class FileChangedError extends Error {
  override name = 'FileChangedError';
}

// The same encoding as undici's FormData serializer (the one multipart used before), so targets
// see the same bytes: names with " CR LF percent-escaped, line breaks in values as CRLF.
const escapeName = (s: string): string => s.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
const crlf = (s: string): string => s.replace(/\r?\n|\r/g, '\r\n');

/** The bytes before and after the file in a multipart body with the given boundary. */
export function multipartFrame(form: FormSpec, boundary: string): { head: Buffer; tail: Buffer } {
  const prefix = `--${boundary}\r\nContent-Disposition: form-data`;
  let head = '';
  for (const [name, value] of form.fields) {
    head += `${prefix}; name="${escapeName(crlf(name))}"\r\n\r\n${crlf(value)}\r\n`;
  }
  head +=
    `${prefix}; name="${escapeName(crlf(form.fileField))}"` +
    (form.fileName ? `; filename="${escapeName(form.fileName)}"` : '') +
    '\r\nContent-Type: application/octet-stream\r\n\r\n';
  return { head: Buffer.from(head), tail: Buffer.from(`\r\n--${boundary}--\r\n`) };
}

/**
 * A streamed upload body for `file`: the file alone (raw) or framed as multipart/form-data. Nothing
 * is opened until the request reads the body; the file is closed when the body ends or fails, when
 * the reader stops it, when `signal` fires, or when `close()` is called.
 */
export async function uploadBody(file: string, signal: AbortSignal, form?: FormSpec): Promise<UploadBody> {
  const info = await stat(file);
  if (!info.isFile()) throw new Error(`${file} is not a regular file; an upload needs a file`);
  await access(file, constants.R_OK); // unreadable: an input error now, not a failed request later
  const size = info.size;
  const boundary = `----durabatch-${randomBytes(16).toString('hex')}`;
  const { head, tail } = form
    ? multipartFrame(form, boundary)
    : { head: Buffer.alloc(0), tail: Buffer.alloc(0) };

  let stream: ReadStream | undefined;
  let closed = signal.aborted;
  const close = (): void => {
    closed = true;
    signal.removeEventListener('abort', close);
    stream?.destroy();
  };
  signal.addEventListener('abort', close, { once: true });
  const changed = (read: string): FileChangedError =>
    new FileChangedError(
      `${file} changed while it was uploaded (${size} bytes when the request started, ${read}); ` +
        'give the batch files only once they are complete (retried while attempts remain)',
    );

  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      if (head.length > 0) yield head;
      if (closed) throw signal.reason ?? new Error('the upload was closed');
      stream = createReadStream(file);
      let read = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        read += chunk.length;
        // Checked before sending: the declared Content-Length must stay true.
        if (read > size) throw changed(`more than ${size} read`);
        yield chunk;
      }
      if (closed) throw signal.reason ?? new Error('the upload was closed');
      if (read !== size) throw changed(`${read} read`);
      if (tail.length > 0) yield tail;
    } finally {
      close();
    }
  }

  return {
    body: chunks(),
    contentType: form ? `multipart/form-data; boundary=${boundary}` : undefined,
    contentLength: head.length + size + tail.length,
    close,
  };
}

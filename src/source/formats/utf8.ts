// Text sources must be UTF-8. Node's decoders silently turn invalid bytes into U+FFFD, so a Latin-1
// or Windows-1252 export would reach the target with "Jos�" instead of "José", and a fixed file could
// not be fed back from the results (they would hold the replacement characters). This stream passes
// bytes through unchanged and refuses the source at the first invalid byte, naming its line.
import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { InputError } from '../../errors';

/** Length of the sequence a lead byte starts (0: not a lead byte). */
function sequenceLength(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/** Offset of the first byte of `buf` that is not valid UTF-8 (strict: no overlongs, surrogates or > U+10FFFF). */
export function firstInvalidUtf8(buf: Buffer): number {
  for (let i = 0; i < buf.length;) {
    const b = buf[i]!;
    const n = sequenceLength(b);
    if (n === 0) return i;
    if (n === 1) {
      i += 1;
      continue;
    }
    if (i + n > buf.length) return i;
    // The second byte's range depends on the lead byte (RFC 3629, table 3-7 of Unicode).
    const c = buf[i + 1]!;
    const [lo, hi] =
      b === 0xe0
        ? [0xa0, 0xbf]
        : b === 0xed
          ? [0x80, 0x9f]
          : b === 0xf0
            ? [0x90, 0xbf]
            : b === 0xf4
              ? [0x80, 0x8f]
              : [0x80, 0xbf];
    if (c < lo || c > hi) return i;
    for (let k = 2; k < n; k++) {
      const t = buf[i + k]!;
      if (t < 0x80 || t > 0xbf) return i;
    }
    i += n;
  }
  return -1;
}

/** Bytes at the end of `buf` that start a multi-byte sequence not complete in `buf` (0 to 3). */
function incompleteTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back]!;
    if (b < 0x80) return 0; // ASCII: nothing pending
    if (b >= 0xc0) return sequenceLength(b) > back ? back : 0; // a lead byte
    // a continuation byte: look further back for its lead
  }
  return 0;
}

/** `orders.csv` → `orders.utf8.csv`. */
const utf8Name = (base: string) => {
  const ext = path.extname(base);
  return `${base.slice(0, base.length - ext.length)}.utf8${ext}`;
};

const hex = (b: number) => `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;

/**
 * A pass-through stream that fails with an InputError naming `file`, the line and the byte at the
 * first invalid UTF-8 sequence. The common valid case costs one native check per chunk.
 */
export class Utf8Check extends Transform {
  /** Bytes held back: a sequence split across two chunks. */
  private pending: Buffer = Buffer.alloc(0);
  /** Newlines in the bytes already passed, and the offset after the last of them. */
  private newlines = 0;
  private passed = 0;
  private lineStart = 0;

  constructor(private readonly file: string) {
    super();
  }

  /** Returns the bytes of `chunk` that are complete characters (a split one waits for the next chunk); throws at an invalid byte. */
  check(chunk: Buffer): Buffer {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const keep = incompleteTail(buf);
    const body = keep > 0 ? buf.subarray(0, buf.length - keep) : buf;
    this.pending = keep > 0 ? Buffer.from(buf.subarray(buf.length - keep)) : Buffer.alloc(0);
    if (!isUtf8(body)) throw this.invalidAt(body, firstInvalidUtf8(body));
    this.count(body, body.length);
    return body;
  }

  /** Throws if the input ended inside a multi-byte character. */
  done(): void {
    if (this.pending.length > 0)
      throw this.invalidAt(this.pending, 0, 'the file ends inside a multi-byte character');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      cb(null, this.check(chunk));
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.done();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  private count(buf: Buffer, to: number): void {
    for (let i = buf.indexOf(10); i !== -1 && i < to; i = buf.indexOf(10, i + 1)) {
      this.newlines += 1;
      this.lineStart = this.passed + i + 1;
    }
    this.passed += to;
  }

  private invalidAt(buf: Buffer, at: number, what?: string): InputError {
    this.count(buf, at);
    const line = this.newlines + 1;
    const column = this.passed - this.lineStart + 1;
    const base = path.basename(this.file);
    return new InputError(
      `${this.file}: line ${line}: not valid UTF-8 (${what ?? `byte ${hex(buf[at]!)}`} at byte ${column} of the line)`,
      `save it as UTF-8, e.g. from a Windows/Excel export: iconv -f WINDOWS-1252 -t UTF-8 ${base} > ${utf8Name(base)}`,
    );
  }
}

// Maps byte offsets of a stream to line numbers, for exact line numbers in error messages (csv-parse's
// own line counter is off after empty CRLF lines). Chunks are kept only until the reader has passed them.
import { Transform, type TransformCallback } from 'node:stream';

interface Chunk {
  start: number;
  bytes: Buffer;
  /** Newlines before this chunk. */
  newlinesBefore: number;
}

export class LineTracker extends Transform {
  private chunks: Chunk[] = [];
  private total = 0;
  private newlines = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.chunks.push({ start: this.total, bytes: chunk, newlinesBefore: this.newlines });
    this.total += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.newlines += 1;
    cb(null, chunk);
  }

  private prune(offset: number): void {
    while (this.chunks.length > 1 && this.chunks[1]!.start <= offset) this.chunks.shift();
  }

  private byteAt(offset: number): number | undefined {
    this.prune(offset);
    const c = this.chunks[0];
    return c ? c.bytes[offset - c.start] : undefined;
  }

  /** Number of '\n' bytes before `offset`. Offsets must not decrease between calls. */
  newlinesBefore(offset: number): number {
    this.prune(offset);
    const c = this.chunks[0];
    if (!c) return this.newlines;
    let n = c.newlinesBefore;
    const end = Math.min(offset - c.start, c.bytes.length);
    for (let i = c.bytes.indexOf(10); i !== -1 && i < end; i = c.bytes.indexOf(10, i + 1)) n += 1;
    return n;
  }

  /** 1-based line of the last line of a record that ends (exclusive) at byte `end`. */
  lastLineOfRecordEndingAt(end: number): number {
    // A record's own terminating newline does not start a new line for that record.
    const terminated = end > 0 && this.byteAt(end - 1) === 10;
    return 1 + this.newlinesBefore(end) - (terminated ? 1 : 0);
  }
}

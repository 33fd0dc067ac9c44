// Maps byte offsets of a stream to line numbers, for exact line numbers in error messages (csv-parse's
// own line counter is off after empty CRLF lines). Chunks are kept only until the reader has passed
// them, and a cursor remembers how far newlines were counted, so the whole file is scanned once.
import { Transform, type TransformCallback } from 'node:stream';

interface Chunk {
  start: number;
  bytes: Buffer;
}

export class LineTracker extends Transform {
  private chunks: Chunk[] = [];
  private total = 0;
  /** Newlines counted in bytes before `cursor`. */
  private cursor = 0;
  private newlines = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.chunks.push({ start: this.total, bytes: chunk });
    this.total += chunk.length;
    cb(null, chunk);
  }

  /** Drops chunks that end at or before `offset` (always keeping the last one). */
  private prune(offset: number): void {
    while (this.chunks.length > 1 && this.chunks[0]!.start + this.chunks[0]!.bytes.length <= offset)
      this.chunks.shift();
  }

  private byteAt(offset: number): number | undefined {
    const c = this.chunks.find((ch) => offset >= ch.start && offset < ch.start + ch.bytes.length);
    return c ? c.bytes[offset - c.start] : undefined;
  }

  /** Number of '\n' bytes before `offset`. Offsets must not decrease between calls. */
  newlinesBefore(offset: number): number {
    for (const c of this.chunks) {
      if (this.cursor >= offset) break;
      const end = c.start + c.bytes.length;
      if (end <= this.cursor) continue;
      const to = Math.min(offset, end) - c.start;
      for (
        let i = c.bytes.indexOf(10, this.cursor - c.start);
        i !== -1 && i < to;
        i = c.bytes.indexOf(10, i + 1)
      )
        this.newlines += 1;
      this.cursor = to + c.start;
    }
    // The byte just before the cursor may still be asked for (a record's terminating newline).
    this.prune(this.cursor - 1);
    return this.newlines;
  }

  /** 1-based line of the last line of a record that ends (exclusive) at byte `end`. */
  lastLineOfRecordEndingAt(end: number): number {
    // A record's own terminating newline does not start a new line for that record.
    const terminated = end > 0 && this.byteAt(end - 1) === 10;
    return 1 + this.newlinesBefore(end) - (terminated ? 1 : 0);
  }
}

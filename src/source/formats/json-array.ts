// A JSON array of objects, read element by element with flat memory. A small byte scanner finds each
// element's bounds (tracking strings, escapes and brackets) and JSON.parse does the rest. Streaming
// token libraries (stream-json) carry no positions, and we need each element's line for messages;
// knowing the bounds also lets one malformed element become an invalid item instead of sinking the file.
import { createReadStream } from 'node:fs';
import { InputError } from '../../errors';
import { MAX_ROW_BYTES, MAX_ROW_DEPTH, rowTooDeep, rowTooLarge, type SourceRecord } from '../types';
import { parseObject } from './jsonl';
import { Utf8Check } from './utf8';

const enum State {
  Start,
  /** After `[` or `,`: a value (or `]` right after `[`). */
  Value,
  /** Inside a value: it ends at the next `,` or `]` outside strings and brackets. */
  InValue,
  End,
}

const OPEN_TO_CLOSE: Record<number, number> = { 0x7b: 0x7d, 0x5b: 0x5d };
const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

class ElementScanner {
  state = State.Start;
  line = 1;
  private first = true;
  private afterOpen = false;
  private inString = false;
  private escape = false;
  /** Expected closers of the open brackets inside the current element. */
  private stack: number[] = [];
  /**
   * Brackets open past MAX_ROW_DEPTH, counted but not kept: hundreds of MB of `[` must not grow the
   * stack (the element is refused as too deep anyway, so their closers are not matched).
   */
  private deeper = 0;
  /** Line where the current element went deeper than MAX_ROW_DEPTH. */
  private deepAt = 0;
  private parts: Buffer[] = [];
  private size = 0;
  private startLine = 0;

  constructor(private readonly file: string) {}

  private fail(message: string, hint?: string): never {
    throw new InputError(`${this.file}: line ${this.line}: ${message}`, hint);
  }

  scan(chunk: Buffer, out: SourceRecord[]): void {
    let i = 0;
    // A UTF-8 byte order mark may precede the array.
    if (this.first && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
    this.first = false;
    let from = -1; // start in this chunk of the current element's bytes
    if (this.state === State.InValue) from = i;
    for (; i < chunk.length; i++) {
      const b = chunk[i]!;
      switch (this.state) {
        case State.Start:
          if (isSpace(b)) break;
          if (b !== 0x5b) {
            this.fail(
              b === 0x7b
                ? 'expected a JSON array of objects, found an object'
                : 'expected a JSON array of objects',
              b === 0x7b
                ? 'for one object per line use a .jsonl file or --format jsonl'
                : 'the file must start with [',
            );
          }
          this.state = State.Value;
          this.afterOpen = true;
          break;
        case State.Value:
          if (isSpace(b)) break;
          if (b === 0x5d && this.afterOpen) {
            this.state = State.End;
            break;
          }
          if (b === 0x2c || b === 0x5d) this.fail('missing array element (an extra comma?)');
          this.state = State.InValue;
          this.afterOpen = false;
          this.startLine = this.line;
          from = i;
          i -= 1; // scan this byte as part of the value
          break;
        case State.InValue:
          if (this.inString) {
            if (this.escape) this.escape = false;
            else if (b === 0x5c) this.escape = true;
            else if (b === 0x22) this.inString = false;
          } else if (b === 0x22) {
            this.inString = true;
          } else if (b === 0x7b || b === 0x5b) {
            if (this.stack.length < MAX_ROW_DEPTH) this.stack.push(OPEN_TO_CLOSE[b]!);
            else {
              this.deeper += 1;
              if (this.deepAt === 0) this.deepAt = this.line;
            }
          } else if (b === 0x7d || b === 0x5d) {
            if (this.deeper > 0) {
              this.deeper -= 1;
            } else if (this.stack.length > 0) {
              if (this.stack.pop() !== b)
                this.fail(
                  `mismatched "${String.fromCharCode(b)}" in the element starting on line ${this.startLine}`,
                );
            } else if (b === 0x5d) {
              this.take(chunk, from, i);
              this.emit(out);
              this.state = State.End;
            } else {
              this.fail('unexpected "}"');
            }
          } else if (b === 0x2c && this.stack.length === 0) {
            this.take(chunk, from, i);
            this.emit(out);
            this.state = State.Value;
          }
          break;
        case State.End:
          if (!isSpace(b)) this.fail('unexpected data after the end of the array');
          break;
      }
      if (b === 0x0a) this.line += 1;
    }
    if (this.state === State.InValue) this.take(chunk, from, chunk.length);
  }

  /** Keeps the element's bytes, up to the row limit: beyond it only the size is counted. */
  private take(chunk: Buffer, from: number, to: number): void {
    if (from < 0 || to <= from) return;
    if (this.size <= MAX_ROW_BYTES)
      this.parts.push(chunk.subarray(from, Math.min(to, from + MAX_ROW_BYTES + 1 - this.size)));
    this.size += to - from;
  }

  private emit(out: SourceRecord[]): void {
    const line = this.startLine;
    if (this.deepAt > 0) {
      const where = this.deepAt === line ? '' : ` (from line ${this.deepAt})`;
      out.push({ line, data: {}, error: `line ${line}: ${rowTooDeep()}${where}` });
    } else if (this.size > MAX_ROW_BYTES) {
      out.push({ line, data: {}, error: `line ${line}: ${rowTooLarge(this.size)}` });
    } else {
      const parsed = parseObject(Buffer.concat(this.parts).toString('utf8'), line);
      out.push('error' in parsed ? { line, data: {}, error: parsed.error } : { line, data: parsed.data });
    }
    this.parts = [];
    this.size = 0;
    this.deepAt = 0;
  }

  finish(): void {
    if (this.state === State.End || this.state === State.Start) return;
    const deep =
      this.deepAt > 0
        ? `; it is nested more than ${MAX_ROW_DEPTH} levels deep from line ${this.deepAt}, ${this.stack.length + this.deeper} brackets still open`
        : '';
    const where =
      this.state === State.InValue
        ? ` (the element starting on line ${this.startLine} is not closed${deep})`
        : '';
    this.fail(`the file ends before the array is closed${where}`, 'check that the file is complete');
  }
}

export async function* readJsonArray(file: string): AsyncGenerator<SourceRecord> {
  const scanner = new ElementScanner(file);
  const utf8 = new Utf8Check(file);
  const out: SourceRecord[] = [];
  for await (const chunk of createReadStream(file)) {
    scanner.scan(utf8.check(chunk as Buffer), out);
    // Parsed elements of one chunk only: at most a 64 KB read's worth.
    yield* out.splice(0);
  }
  utf8.done();
  scanner.finish();
}

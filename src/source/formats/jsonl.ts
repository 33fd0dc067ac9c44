// JSON Lines: one object per line. Blank lines are skipped; a line that is not a JSON object is a
// row-level problem (the row becomes an invalid item), so one bad line never sinks the batch.
import { createReadStream } from 'node:fs';
import {
  MAX_ROW_BYTES,
  MAX_ROW_DEPTH,
  nestingDepth,
  rowTooDeep,
  rowTooLarge,
  type SourceRecord,
} from '../types';
import { Utf8Check } from './utf8';

export function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Parses one JSON text that must be an object; returns the error message instead of throwing. */
export function parseObject(
  text: string,
  line: number,
): { data: Record<string, unknown> } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `line ${line}: invalid JSON (${(err as Error).message})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: `line ${line}: expected a JSON object, got ${describeJson(value)}` };
  }
  // Checked here, so no later step walks a value deep enough to overflow the stack.
  if (nestingDepth(value) > MAX_ROW_DEPTH) return { error: `line ${line}: ${rowTooDeep()}` };
  return { data: value as Record<string, unknown> };
}

/** One line of the file: its text when within the row limit, else only its size. */
interface SplitLine {
  line: number;
  /** Undefined when the line is longer than the limit: its bytes were not kept. */
  text?: string;
  bytes: number;
}

/**
 * Splits bytes into lines (`\n`, `\r\n` or a lone `\r`, as readline did) keeping at most `limit`
 * bytes of a line: past that only its length is counted, so a 1 GB line with no newline costs no
 * more memory than a short one and becomes one line's error.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private bytes = 0;
  private line = 0;
  private afterCR = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): SplitLine[] {
    const out: SplitLine[] = [];
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b !== 0x0a && b !== 0x0d) continue;
      if (b === 0x0a && this.afterCR && i === from) {
        // The \n of a \r\n: the line already ended at the \r.
        this.afterCR = false;
        from = i + 1;
        continue;
      }
      this.keep(chunk, from, i);
      out.push(this.end());
      this.afterCR = b === 0x0d;
      from = i + 1;
    }
    if (from < chunk.length) {
      this.keep(chunk, from, chunk.length);
      this.afterCR = false;
    }
    return out;
  }

  /** The last line, when the file does not end with a line break. */
  finish(): SplitLine | undefined {
    return this.bytes > 0 ? this.end() : undefined;
  }

  private keep(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    if (this.bytes <= this.limit)
      this.parts.push(chunk.subarray(from, Math.min(to, from + this.limit + 1 - this.bytes)));
    this.bytes += to - from;
  }

  private end(): SplitLine {
    this.line += 1;
    const line: SplitLine = { line: this.line, bytes: this.bytes };
    if (this.bytes <= this.limit) line.text = Buffer.concat(this.parts).toString('utf8');
    this.parts = [];
    this.bytes = 0;
    return line;
  }
}

function recordOf(l: SplitLine): SourceRecord | undefined {
  // A line longer than the limit is refused without being kept or parsed.
  if (l.text === undefined)
    return { line: l.line, data: {}, error: `line ${l.line}: ${rowTooLarge(l.bytes)}` };
  const text = l.line === 1 ? l.text.replace(/^\uFEFF/, '') : l.text;
  if (text.trim() === '') return undefined;
  const parsed = parseObject(text, l.line);
  return 'error' in parsed
    ? { line: l.line, data: {}, error: parsed.error }
    : { line: l.line, data: parsed.data };
}

export async function* readJsonl(file: string): AsyncGenerator<SourceRecord> {
  // An invalid byte refuses the file (naming its line) instead of becoming U+FFFD in an item.
  const utf8 = new Utf8Check(file);
  const lines = new LineSplitter(MAX_ROW_BYTES);
  for await (const chunk of createReadStream(file)) {
    for (const l of lines.push(utf8.check(chunk as Buffer))) {
      const rec = recordOf(l);
      if (rec) yield rec;
    }
  }
  utf8.done();
  const last = lines.finish();
  const rec = last && recordOf(last);
  if (rec) yield rec;
}

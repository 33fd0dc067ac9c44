// JSON Lines: one object per line. Blank lines are skipped; a line that is not a JSON object is a
// row-level problem (the row becomes an invalid item), so one bad line never sinks the batch.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream';
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

export async function* readJsonl(file: string): AsyncGenerator<SourceRecord> {
  // An invalid byte refuses the file (naming its line) instead of becoming U+FFFD in an item.
  const input = pipeline(createReadStream(file), new Utf8Check(file), () => undefined);
  const rl = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of rl) {
      line += 1;
      const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (text.trim() === '') continue;
      // A line with more characters than the limit has more bytes too: refuse it without parsing it.
      // Shorter lines of wide characters are measured by staging, after parsing.
      if (text.length > MAX_ROW_BYTES) {
        yield { line, data: {}, error: `line ${line}: ${rowTooLarge(Buffer.byteLength(text))}` };
        continue;
      }
      const parsed = parseObject(text, line);
      yield 'error' in parsed ? { line, data: {}, error: parsed.error } : { line, data: parsed.data };
    }
  } finally {
    rl.close();
    input.destroy();
  }
}

// The outcome columns of the results workbook and where each item's outcome is. The workbook is
// written in row order but the report's items.jsonl is in the order items finished, so one pass
// records each outcome's byte range by item index (12 bytes an item: 12 MB for a million, where a
// map of parsed outcomes would take gigabytes) and rows then read their outcome back by range,
// through a window that makes the nearly sequential reads cheap.
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type ExcelJS from 'exceljs';
import type { ItemOutcome } from '../../workflows/types';

/** The outcome columns added after the source's own. */
export const OUTCOME_COLUMNS = ['durabatch_status', 'durabatch_attempts', 'durabatch_error'] as const;
/** Prefix of the columns holding the processor's output fields (`durabatch_output.id`, …). */
export const OUTPUT_PREFIX = 'durabatch_output';
/** Output fields given a column each; any further field's output is kept whole in `durabatch_output`. */
export const MAX_OUTPUT_FIELDS = 30;
/** Excel refuses longer text in a cell (and would "repair" the workbook). */
const MAX_CELL_CHARS = 32_767;
const WINDOW_BYTES = 64 * 1024;

export function clip(text: string): string {
  return text.length > MAX_CELL_CHARS ? `${text.slice(0, MAX_CELL_CHARS - 1)}…` : text;
}

/** The output as an object of fields when it is a JSON object (an excerpt cut short is not). */
function outputFields(output: string | undefined): Record<string, unknown> | undefined {
  const text = output?.trim();
  if (!text?.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** An output field as a cell: numbers and booleans keep their type, nested values are JSON text. */
function fieldCell(v: unknown): ExcelJS.CellValue {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  return clip(typeof v === 'string' ? v : JSON.stringify(v));
}

function errorText(o: ItemOutcome): string | null {
  const text = [o.errorType, o.errorMessage].filter((p) => p !== undefined && p !== '').join(': ');
  return text === '' ? null : clip(text);
}

export class OutcomeIndex {
  /** The added columns' names: outcome, then output fields, then the whole output if needed. */
  readonly columns: string[];
  /** Reused for every read: a window's text is parsed before the next read replaces it. */
  private buffer = Buffer.alloc(0);
  private window = Buffer.alloc(0);
  private windowStart = 0;

  private constructor(
    private readonly file: FileHandle,
    private readonly offsets: Float64Array,
    private readonly lengths: Uint32Array,
    private readonly fields: string[],
    wholeOutput: boolean,
  ) {
    this.columns = [
      ...OUTCOME_COLUMNS,
      ...fields.map((f) => `${OUTPUT_PREFIX}.${f}`),
      ...(wholeOutput ? [OUTPUT_PREFIX] : []),
    ];
  }

  /** Reads the report's items.jsonl once: where each outcome is, and which output fields occur. */
  static async build(outcomesFile: string, total: number): Promise<OutcomeIndex> {
    const offsets = new Float64Array(total).fill(-1);
    const lengths = new Uint32Array(total);
    const fields = new Set<string>();
    let wholeOutput = false;
    let offset = 0;
    // The report writes this file with `\n` line ends and JSON.stringify's text (valid UTF-8), so
    // a line's byte length is exact.
    const lines = createInterface({ input: createReadStream(outcomesFile), crlfDelay: Infinity });
    for await (const line of lines) {
      const length = Buffer.byteLength(line);
      if (line.trim()) {
        const o = JSON.parse(line) as ItemOutcome;
        if (o.index >= 0 && o.index < total) {
          offsets[o.index] = offset;
          lengths[o.index] = length;
        }
        const parsed = outputFields(o.output);
        for (const f of Object.keys(parsed ?? {})) if (fields.size < MAX_OUTPUT_FIELDS) fields.add(f);
        if (o.output && (!parsed || Object.keys(parsed).some((f) => !fields.has(f)))) wholeOutput = true;
      }
      offset += length + 1;
    }
    return new OutcomeIndex(await open(outcomesFile, 'r'), offsets, lengths, [...fields], wholeOutput);
  }

  async get(index: number): Promise<ItemOutcome | undefined> {
    const start = this.offsets[index] ?? -1;
    if (start < 0) return undefined;
    const length = this.lengths[index]!;
    if (start < this.windowStart || start + length > this.windowStart + this.window.length) {
      // Mostly ahead of the wanted line (outcomes come roughly in item order), some behind (items
      // that finished a little out of order); small enough that a read per row stays cheap when
      // the order is random.
      const from = Math.max(0, start - WINDOW_BYTES / 4);
      const size = Math.max(WINDOW_BYTES, start - from + length);
      if (this.buffer.length < size) this.buffer = Buffer.allocUnsafe(size);
      const { bytesRead } = await this.file.read(this.buffer, 0, size, from);
      this.window = this.buffer.subarray(0, bytesRead);
      this.windowStart = from;
    }
    const at = start - this.windowStart;
    return JSON.parse(this.window.toString('utf8', at, at + length)) as ItemOutcome;
  }

  /** The added columns' cells for one row's outcome (undefined: none was recorded). */
  cells(o: ItemOutcome | undefined): ExcelJS.CellValue[] {
    if (!o) return ['unknown', null, 'NoOutcome: no outcome was recorded for this item'];
    const parsed = outputFields(o.output);
    const cells: ExcelJS.CellValue[] = [o.status, o.attempts, errorText(o)];
    for (const f of this.fields) cells.push(fieldCell(parsed?.[f]));
    if (this.columns.length > cells.length) {
      const covered = parsed && Object.keys(parsed).every((f) => this.fields.includes(f));
      cells.push(covered || !o.output ? null : clip(o.output));
    }
    return cells;
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

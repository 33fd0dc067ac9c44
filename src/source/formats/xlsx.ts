// XLSX through exceljs's streaming WorkbookReader: rows are parsed as the zip is read, so memory stays
// flat whatever the sheet's size (shared strings, which the format keeps apart, are cached: their
// uncompressed size is capped, since a few KB of zip can inflate to gigabytes of them).
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import type ExcelJS from 'exceljs';
import { InputError } from '../../errors';
import { plainText, type FormatHooks, type SourceRecord } from '../types';

export interface XlsxOptions extends FormatHooks {
  /** Sheet name; default the first sheet. */
  sheet?: string;
  onWarning?: (message: string) => void;
  /** Cap on the uncompressed shared strings (tests lower it). Default MAX_SHARED_STRINGS_BYTES. */
  maxSharedStringsBytes?: number;
}

/**
 * Uncompressed bytes of `xl/sharedStrings.xml` read at most. Every string of it is held in memory
 * while the sheet is read (cells refer to them by index), so a zip bomb there would exhaust the
 * heap; real workbooks of a few hundred thousand rows stay well below this.
 */
export const MAX_SHARED_STRINGS_BYTES = 256 * 1024 * 1024;

/** Passes an entry's inflated bytes through, failing once more than `limit` have come. */
class InflatedCap extends Transform {
  private bytes = 0;

  constructor(
    private readonly limit: number,
    private readonly fail: () => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) cb(this.fail());
    else cb(null, chunk);
  }
}

/** The reader's own shared-strings parser, fed through the cap. */
function capSharedStrings(reader: object, file: string, limit: number): void {
  const r = reader as { _parseSharedStrings?: (entry: NodeJS.ReadableStream) => AsyncGenerator<unknown> };
  const parse = r._parseSharedStrings?.bind(reader);
  // An exceljs without this hook reads as before (the dependency is pinned; its tests would tell).
  if (!parse) return;
  r._parseSharedStrings = (entry) => {
    const capped = new InflatedCap(
      limit,
      () =>
        new InputError(
          `${file}: its shared strings (xl/sharedStrings.xml) inflate to more than ${Math.round(limit / 1024 / 1024)} MB; ` +
            'the workbook is not read (a workbook this size, or a zip bomb)',
          'save the sheet as CSV, or split the workbook',
        ),
    );
    entry.on('error', (err: Error) => capped.destroy(err));
    entry.pipe(capped);
    return parse(capped);
  };
}

type SheetReader = AsyncIterable<ExcelJS.Row> & { id: number; name?: string };

/** A cell as a plain JSON value: formulas give their result, rich text its text, dates an ISO string. */
export function cellValue(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (v instanceof Date) {
    const iso = v.toISOString();
    // exceljs reads date-only cells as UTC midnight: show them as the date the spreadsheet shows.
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  if (typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (Array.isArray(o.richText)) return (o.richText as { text?: string }[]).map((r) => r.text ?? '').join('');
  if ('result' in o || 'formula' in o || 'sharedFormula' in o) return cellValue(o.result);
  if ('text' in o) return cellValue(o.text);
  if (typeof o.error === 'string') return o.error;
  return JSON.stringify(v);
}

function headerOf(file: string, sheet: string, row: ExcelJS.Row): Map<number, string> {
  const columns = new Map<number, string>();
  const seen = new Set<string>();
  const values = row.values as unknown[];
  for (let col = 1; col < values.length; col++) {
    const raw = cellValue(values[col]);
    const name = plainText(raw).trim();
    if (name === '') continue;
    if (seen.has(name)) {
      throw new InputError(
        `${file}: sheet "${sheet}" row ${row.number}: the header has column "${name}" twice`,
        'give every column its own name',
      );
    }
    seen.add(name);
    columns.set(col, name);
  }
  if (columns.size === 0)
    throw new InputError(`${file}: sheet "${sheet}" row ${row.number}: the header row is empty`);
  return columns;
}

async function* readSheet(file: string, ws: SheetReader, opts: XlsxOptions): AsyncGenerator<SourceRecord> {
  const sheet = ws.name ?? `#${ws.id}`;
  let header: Map<number, string> | undefined;
  const unnamed = new Set<number>();
  for await (const row of ws) {
    if (!header) {
      header = headerOf(file, sheet, row);
      opts.onHeader?.([...header.values()]);
      continue;
    }
    const values = row.values as unknown[];
    const data: Record<string, unknown> = {};
    let empty = true;
    for (const [col, name] of header) {
      const v = cellValue(values[col]);
      if (v !== undefined && v !== '') empty = false;
      data[name] = v ?? '';
    }
    for (let col = 1; col < values.length; col++) {
      if (!header.has(col) && cellValue(values[col]) !== undefined && !unnamed.has(col)) {
        unnamed.add(col);
        opts.onWarning?.(
          `${file}: sheet "${sheet}": column ${col} has values (first on row ${row.number}) but no header; they are ignored`,
        );
      }
    }
    // Rows holding only formatting are empty to the reader, like blank CSV lines.
    if (!empty) yield { line: row.number, data };
  }
}

export async function* readXlsx(file: string, opts: XlsxOptions = {}): AsyncGenerator<SourceRecord> {
  const input = createReadStream(file);
  // exceljs reads our stream; an I/O error must not escape as an unhandled 'error' event.
  let ioError: Error | undefined;
  input.on('error', (err) => (ioError = err));
  // Loaded on demand: exceljs costs ~20 MB of memory that CSV and JSON sources never need.
  const { default: excel } = await import('exceljs');
  const reader = new excel.stream.xlsx.WorkbookReader(input, {
    sharedStrings: 'cache',
    styles: 'cache', // needed to tell dates from numbers
    hyperlinks: 'ignore',
    worksheets: 'emit',
    entries: 'emit',
  });
  capSharedStrings(reader, file, opts.maxSharedStringsBytes ?? MAX_SHARED_STRINGS_BYTES);
  const names: string[] = [];
  try {
    for await (const ws of reader as AsyncIterable<unknown> as AsyncIterable<SheetReader>) {
      names.push(ws.name ?? `#${ws.id}`);
      // Sheets come in file order; unread ones are skipped by the reader.
      if (opts.sheet !== undefined && ws.name !== opts.sheet) continue;
      yield* readSheet(file, ws, opts);
      return;
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    const why = (ioError ?? (err as Error)).message;
    throw new InputError(
      `${file} is not a readable XLSX workbook (${why})`,
      'save it as .xlsx from a spreadsheet program, or name the right --format',
    );
  } finally {
    input.destroy();
  }
  if (names.length === 0)
    throw new InputError(`${file} has no worksheets`, 'is it really an .xlsx workbook?');
  throw new InputError(`${file}: no sheet named "${opts.sheet}"`, `use one of: ${names.join(', ')}`);
}

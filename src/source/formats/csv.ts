// CSV reading through csv-parse (RFC 4180: BOM, CRLF, quoted delimiters, quotes and newlines).
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
import { isFailedCsvHeader, restoreFormula } from '../../util/csv-formulas';
import { InputError } from '../../errors';
import type { FormatHooks, SourceRecord } from '../types';
import { LineTracker } from './line-tracker';
import { Utf8Check } from './utf8';

/**
 * Longest record csv-parse may buffer. Rows over MAX_ROW_BYTES (256 KB) are already invalid items;
 * this bounds the memory a single record can take before that check (an unclosed quote makes the
 * rest of a file one record), refusing the source with its line instead.
 */
export const MAX_CSV_RECORD_CHARS = 8 * 1024 * 1024;

export interface CsvOptions extends FormatHooks {
  /** Field delimiter (default ','). */
  delimiter?: string;
}

function checkHeader(file: string, header: string[]): string[] {
  const names = header.map((h) => h ?? '');
  const seen = new Set<string>();
  for (const [i, name] of names.entries()) {
    // A nameless or repeated column would silently lose its values in the item.
    if (name.trim() === '')
      throw new InputError(
        `${file}: line 1: column ${i + 1} of the header has no name`,
        'name every column in the header row',
      );
    if (seen.has(name))
      throw new InputError(
        `${file}: line 1: the header has column "${name}" twice`,
        'give every column its own name',
      );
    seen.add(name);
  }
  return names;
}

export async function* readCsv(file: string, opts: CsvOptions = {}): AsyncGenerator<SourceRecord> {
  const lines = new LineTracker();
  let header: string[] = [];
  // durabatch's own failed.csv fed back: its formula-neutralising quotes are not item data.
  let neutralised = false;
  const parser = parse({
    bom: true,
    delimiter: opts.delimiter ?? ',',
    skip_empty_lines: true,
    // A row with the wrong number of fields is a row-level problem (an invalid item), not a broken file.
    relax_column_count: true,
    max_record_size: MAX_CSV_RECORD_CHARS,
    info: true,
    columns: (raw: string[]) => {
      neutralised = isFailedCsvHeader(raw);
      header = checkHeader(file, neutralised ? raw.map((h) => restoreFormula(h ?? '')) : raw);
      opts.onHeader?.(header);
      return header;
    },
  });
  // pipeline() tears all three streams down together; any error surfaces through the parser's iterator.
  pipeline(createReadStream(file), new Utf8Check(file), lines, parser, () => undefined);
  try {
    for await (const chunk of parser) {
      const { record, info } = chunk as {
        record: Record<string, string>;
        info: { bytes: number; index: number; error?: unknown };
      };
      if (neutralised)
        for (const [k, v] of Object.entries(record)) if (typeof v === 'string') record[k] = restoreFormula(v);
      // The record ends at info.bytes; quoted fields may span lines, so count back their newlines.
      let spanned = 0;
      for (const v of Object.values(record))
        for (let i = v.indexOf('\n'); i !== -1; i = v.indexOf('\n', i + 1)) spanned += 1;
      const line = lines.lastLineOfRecordEndingAt(info.bytes) - spanned;
      if (info.error) {
        yield {
          line,
          data: record,
          error: `line ${line}: has ${info.index} fields, the header has ${header.length}`,
        };
      } else {
        yield { line, data: record };
      }
    }
  } catch (err) {
    if (err instanceof CsvError) {
      const at = (err as CsvError & { lines?: number }).lines;
      if (err.code === 'CSV_MAX_RECORD_SIZE') {
        throw new InputError(
          `${file}${at ? `: line ${at}` : ''}: a record longer than ${MAX_CSV_RECORD_CHARS / 1024 / 1024} M characters ` +
            '(rows are at most 256 KB); most likely a quote opened there is never closed',
          'close the quote (quotes inside a quoted field are doubled), or split the row',
        );
      }
      throw new InputError(
        `${file}${at ? `: line ${at}` : ''}: ${err.message}`,
        'fix the CSV (quotes must be closed, and doubled inside quoted fields)',
      );
    }
    throw err;
  }
}

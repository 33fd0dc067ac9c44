// CSV reading through csv-parse (RFC 4180: BOM, CRLF, quoted delimiters, quotes and newlines).
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
import { InputError } from '../errors';
import { LineTracker } from './line-tracker';

export interface CsvOptions {
  /** Column holding each item's unique key; default: the 1-based data row number. */
  idColumn?: string;
  /** Field delimiter (default ','). */
  delimiter?: string;
}

export interface CsvRecord {
  key: string;
  /** 1-based line of the file where the record starts. */
  line: number;
  data: Record<string, string>;
  columns: string[];
}

export async function* readCsvRecords(file: string, opts: CsvOptions): AsyncGenerator<CsvRecord> {
  const lines = new LineTracker();
  const parser = parse({ bom: true, columns: true, delimiter: opts.delimiter ?? ',', skip_empty_lines: true, info: true });
  // pipeline() tears all three streams down together; any error surfaces through the parser's iterator.
  pipeline(createReadStream(file), lines, parser, () => undefined);
  let columns: string[] | undefined;
  let row = 0;
  try {
    for await (const chunk of parser) {
      const { record, info } = chunk as { record: Record<string, string>; info: { bytes: number } };
      if (!columns) {
        columns = Object.keys(record);
        if (opts.idColumn && !columns.includes(opts.idColumn)) {
          throw new InputError(
            `${file}: --id-column "${opts.idColumn}" is not a column of the header`,
            `use one of: ${columns.join(', ')}`,
          );
        }
      }
      row += 1;
      // The record ends at info.bytes; quoted fields may span lines, so count back their newlines.
      let spanned = 0;
      for (const v of Object.values(record)) for (let i = v.indexOf('\n'); i !== -1; i = v.indexOf('\n', i + 1)) spanned += 1;
      const line = lines.lastLineOfRecordEndingAt(info.bytes) - spanned;
      const key = opts.idColumn ? (record[opts.idColumn] ?? '').trim() : String(row);
      if (opts.idColumn && key === '') {
        throw new InputError(`${file}: line ${line}: column "${opts.idColumn}" is empty`, 'every row needs a key');
      }
      yield { key, line, data: record, columns };
    }
  } catch (err) {
    if (err instanceof CsvError) {
      const lines = (err as CsvError & { lines?: number }).lines;
      throw new InputError(
        `${file}${lines ? `: line ${lines}` : ''}: ${err.message}`,
        'fix the CSV (quotes must be closed and doubled inside quoted fields; every row needs as many fields as the header)',
      );
    }
    throw err;
  }
}

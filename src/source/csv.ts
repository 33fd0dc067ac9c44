// CSV reading through csv-parse (RFC 4180: BOM, CRLF, quoted delimiters, quotes and newlines).
import { createReadStream } from 'node:fs';
import { parse, CsvError } from 'csv-parse';
import { InputError } from '../errors';

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
  const parser = createReadStream(file).pipe(
    parse({
      bom: true,
      columns: true,
      delimiter: opts.delimiter ?? ',',
      skip_empty_lines: true,
      info: true,
      raw: true,
    }),
  );
  let columns: string[] | undefined;
  let row = 0;
  try {
    for await (const chunk of parser) {
      const { record, info, raw } = chunk as { record: Record<string, string>; info: { lines: number }; raw: string };
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
      // info.lines is where the record ends; a quoted field may span several lines.
      const spanned = (raw.replace(/\r?\n$/, '').match(/\n/g) ?? []).length;
      const line = info.lines - spanned;
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

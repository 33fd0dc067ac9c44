// Turns source records into staged item lines: the key, validation against the item schema, and the
// row size limit. Problems with one row make that item invalid (it will be skipped with the reason);
// problems that make keys meaningless (no such id column, an empty key) refuse the whole source.
import { InputError } from '../errors';
import { MAX_ROW_BYTES, rowTooLarge, type SourceFormat, type SourceRecord } from './types';
import type { ItemValidator } from './validate';

/** Longest `invalid` reason kept on an item; the first problems say enough. */
const MAX_REASON_CHARS = 2000;
/** Most field names collected for the manifest's column list (a JSONL source may vary per row). */
const MAX_COLUMNS = 1000;

export interface ItemBuilderOptions {
  file: string;
  format: SourceFormat;
  /** The field holding the key; undefined: the 1-based row number. */
  idColumn?: string;
  validate?: ItemValidator;
}

export interface BuiltItem {
  key: string;
  line: number;
  /** The item as one JSON line (no newline). */
  json: string;
  invalid?: string;
}

export class ItemBuilder {
  private ordinal = 0;
  private checkedIdColumn = false;
  private readonly columnSet = new Set<string>();
  readonly columns: string[] = [];

  constructor(private readonly opts: ItemBuilderOptions) {}

  build(rec: SourceRecord, index: number): BuiltItem {
    this.ordinal += 1;
    const { line } = rec;
    this.noteColumns(rec.data);
    const key = this.keyOf(rec);
    const problems: string[] = [];
    if (rec.error) problems.push(rec.error);
    else if (this.opts.validate)
      for (const p of this.opts.validate(rec.data)) problems.push(`${this.at(rec)}: ${p}`);
    let dataJson = JSON.stringify(rec.data);
    // Cheap bound first: a UTF-16 unit is at most 3 UTF-8 bytes.
    if (dataJson.length * 3 > MAX_ROW_BYTES) {
      const bytes = Buffer.byteLength(dataJson);
      if (bytes > MAX_ROW_BYTES) {
        // The row would make pages of items too big for Temporal: it is kept out of the staged copy.
        problems.unshift(`${this.at(rec)}: ${rowTooLarge(bytes)}`);
        dataJson = '{}';
      }
    }
    let invalid: string | undefined;
    if (problems.length > 0) {
      invalid = problems.join('; ');
      if (invalid.length > MAX_REASON_CHARS) invalid = `${invalid.slice(0, MAX_REASON_CHARS - 1)}…`;
    }
    // Same text as JSON.stringify of an Item in field order; built by hand to reuse dataJson.
    const json =
      `{"index":${index},"key":${JSON.stringify(key)},"line":${line},"data":${dataJson}` +
      `${invalid === undefined ? '' : `,"invalid":${JSON.stringify(invalid)}`}` +
      `${rec.within === undefined || invalid !== undefined ? '' : `,"within":${JSON.stringify(rec.within)}`}` +
      `${rec.followsLinks && rec.within !== undefined && invalid === undefined ? ',"followsLinks":true' : ''}}`;
    return { key, line, json, invalid };
  }

  /** Where a record is, for messages: its line, or for a directory its file. */
  private at(rec: SourceRecord): string {
    return this.opts.format === 'dir' && typeof rec.data.file === 'string'
      ? `file "${rec.data.file}"`
      : `line ${rec.line}`;
  }

  private noteColumns(data: Record<string, unknown>): void {
    if (this.columns.length >= MAX_COLUMNS) return;
    for (const k of Object.keys(data)) {
      if (!this.columnSet.has(k) && this.columns.length < MAX_COLUMNS) {
        this.columnSet.add(k);
        this.columns.push(k);
      }
    }
  }

  private keyOf(rec: SourceRecord): string {
    const { idColumn, file, format } = this.opts;
    if (!idColumn) return String(this.ordinal);
    const value = rec.data[idColumn];
    if (!this.checkedIdColumn && !rec.error) {
      this.checkedIdColumn = true;
      if (!(idColumn in rec.data)) {
        const where =
          format === 'csv' || format === 'xlsx'
            ? 'a column of the header'
            : format === 'dir'
              ? 'a field of the files (file, path, size or a metadata column)'
              : `a field of the first record (line ${rec.line})`;
        throw new InputError(
          `${file}: --id-column "${idColumn}" is not ${where}`,
          `use one of: ${Object.keys(rec.data).join(', ')}`,
        );
      }
    }
    const key =
      typeof value === 'string'
        ? value.trim()
        : typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : '';
    if (key !== '') return key;
    // A row that could not be read has no usable key; it still needs a unique one to be reported.
    if (rec.error) return `line-${rec.line}`;
    if (value !== undefined && value !== null && typeof value === 'object') {
      throw new InputError(
        `${file}: ${this.at(rec)}: the key in "${idColumn}" is not text or a number`,
        'choose a column of plain values',
      );
    }
    throw new InputError(
      `${file}: ${this.at(rec)}: column "${idColumn}" is empty or missing`,
      'every row needs a key',
    );
  }
}

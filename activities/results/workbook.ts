// The results workbook: for an XLSX source, the original sheet's rows with each item's outcome in three
// more columns, so someone who works in the spreadsheet sees what happened to every row, where the row
// is. Rows come from the staged copy (the original may have changed or gone since), are streamed through
// exceljs's WorkbookWriter (memory stays flat whatever the sheet's size), and the finished file replaces
// results.xlsx by rename, so a crash never leaves half a workbook and a retry writes the same rows again.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type ExcelJS from 'exceljs';
import type { Item, ItemOutcome } from '../../workflows/types';
import { jsonLines } from '../../src/util/json-lines';

export const WORKBOOK_FILE = 'results.xlsx';
/** The outcome columns added after the source's own. */
export const OUTCOME_COLUMNS = ['durabatch_status', 'durabatch_attempts', 'durabatch_error'] as const;
/** Sheet name when the source's is not known. */
const DEFAULT_SHEET = 'Results';
/** Excel refuses longer text in a cell (and would "repair" the workbook). */
const MAX_CELL_CHARS = 32_767;

export interface ResultsWorkbookInput {
  /** The results directory; `results.xlsx` (and its `.bak`) go there. */
  dir: string;
  /** Staged source directory: its items.jsonl holds the original rows, in source order. */
  stagedDir: string;
  /** The staged manifest's columns: the header's names in sheet order (after any column mapping). */
  columns: string[];
  /** The report's items.jsonl: one outcome per item (never-started items included), joined to rows by item index. */
  outcomesFile: string;
  /** The source sheet's name, to name the results sheet the same. Default `Results`. */
  sheet?: string;
  /** Stored as the workbook's creation time: the batch's end, so a retried report writes the same properties. */
  createdAt?: Date;
}

/** A staged value as a cell: empty text stays an empty cell, as it was in the original. */
function toCell(v: unknown): ExcelJS.CellValue {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  return clip(typeof v === 'string' ? v : JSON.stringify(v));
}

function clip(text: string): string {
  return text.length > MAX_CELL_CHARS ? `${text.slice(0, MAX_CELL_CHARS - 1)}…` : text;
}

function errorText(o: ItemOutcome): string | null {
  const text = [o.errorType, o.errorMessage].filter((p) => p !== undefined && p !== '').join(': ');
  return text === '' ? null : clip(text);
}

/**
 * Writes `<dir>/results.xlsx`; a previous one becomes `results.xlsx.bak` (one backup is kept).
 * Returns the workbook's path.
 */
export async function writeResultsWorkbook(input: ResultsWorkbookInput): Promise<string> {
  const file = path.join(input.dir, WORKBOOK_FILE);
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeWorkbook(tmp, input);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // Two renames, never a copy: results.xlsx is always a complete workbook or absent for an instant,
  // and the backup costs no I/O whatever the file's size.
  try {
    await rename(file, `${file}.bak`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      await rm(tmp, { force: true });
      throw err;
    }
  }
  await rename(tmp, file);
  return file;
}

async function writeWorkbook(tmp: string, input: ResultsWorkbookInput): Promise<void> {
  const byIndex = new Map<number, ItemOutcome>();
  for await (const o of jsonLines<ItemOutcome>(input.outcomesFile)) byIndex.set(o.index, o);
  // A source that is itself an earlier results workbook (fixed rows fed back) already has these
  // columns: their old values are replaced, not repeated beside the new ones.
  const outcomeNames = new Set<string>(OUTCOME_COLUMNS);
  const columns = input.columns.filter((c) => !outcomeNames.has(c));

  const out = createWriteStream(tmp);
  // The writer only listens for stream errors once it finalises: an earlier one (a full disk) must
  // fail this write rather than crash the worker or leave commit() waiting forever.
  const failed = new Promise<never>((_, reject) => out.on('error', reject));
  failed.catch(() => undefined);
  // Loaded on demand, like the XLSX reader: exceljs is heavy and most batches never need it.
  const { default: excel } = await import('exceljs');
  const created = input.createdAt ?? new Date();
  const workbook = new excel.stream.xlsx.WorkbookWriter({
    stream: out,
    // Inline strings: a shared-strings table would hold every distinct text in memory until the end.
    useSharedStrings: false,
    useStyles: false,
  });
  workbook.creator = 'durabatch';
  workbook.lastModifiedBy = 'durabatch';
  workbook.created = created;
  workbook.modified = created;
  const sheet = workbook.addWorksheet(input.sheet ?? DEFAULT_SHEET);

  const write = async () => {
    let lastRow = 0;
    const header = [...columns, ...OUTCOME_COLUMNS];
    for await (const item of jsonLines<Item>(path.join(input.stagedDir, 'items.jsonl'))) {
      if (lastRow === 0) {
        // The header sits right above the first row, as it usually did in the original.
        lastRow = Math.max(1, item.line - 1);
        addRow(sheet, lastRow, header);
      }
      // Each row keeps its spreadsheet row number (item.line) when it can, so row 57 here is row 57
      // of the original and of error messages; rows the reader skipped as empty stay empty.
      lastRow = item.line > lastRow ? item.line : lastRow + 1;
      const o = byIndex.get(item.index);
      addRow(sheet, lastRow, [
        ...columns.map((c) => toCell(item.data[c])),
        o?.status ?? 'unknown',
        o?.attempts ?? null,
        o ? errorText(o) : 'NoOutcome: no outcome was recorded for this item',
      ]);
    }
    if (lastRow === 0) addRow(sheet, 1, header);
    sheet.commit();
    await workbook.commit();
    // commit() resolves on 'finish'; the file is renamed only once its descriptor is closed.
    await finished(out);
  };
  try {
    await Promise.race([write(), failed]);
  } catch (err) {
    out.destroy();
    throw err;
  }
}

function addRow(sheet: ExcelJS.Worksheet, rowNumber: number, values: ExcelJS.CellValue[]): void {
  const row = sheet.getRow(rowNumber);
  row.values = values;
  // Committing hands the row to the zip stream and drops it from memory.
  row.commit();
}

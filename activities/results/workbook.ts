// The results workbook, for an XLSX source: the source workbook as it was (every sheet, value types,
// number formats, header names) with each item's outcome and its processor's output in more columns
// of the source sheet, so someone who works in the spreadsheet sees what happened to every row,
// where the row is. It is made from the copy of the workbook kept at staging (the original may have
// changed or gone since); a staging made before that copy existed gives the staged rows instead.
// Everything is streamed through exceljs's WorkbookWriter (memory stays flat whatever the size), and
// the finished file replaces results.xlsx by rename, so a crash never leaves half a workbook and a
// retry writes the same rows again.
import { createWriteStream } from 'node:fs';
import { access, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type ExcelJS from 'exceljs';
import type { Item } from '../../workflows/types';
import { jsonLines } from '../../src/util/json-lines';
import { sourceCopyOf } from '../../src/source/source-copy';
import { copyWorkbook } from './workbook-copy';
import { clip, OutcomeIndex } from './workbook-outcomes';
import {
  oversizedSheets,
  SheetCopyError,
  sheetEntries,
  workbookWithout,
  type SheetEntry,
  type SkippedSheet,
} from './workbook-sheets';
import { ZipLayoutError, type ZipEntry } from './zip-entries';

export { OUTCOME_COLUMNS, OUTPUT_PREFIX } from './workbook-outcomes';
export type { SkippedSheet } from './workbook-sheets';
export const WORKBOOK_FILE = 'results.xlsx';
/** Sheet name when the source's is not known. */
const DEFAULT_SHEET = 'Results';

export interface ResultsWorkbookInput {
  /** The results directory; `results.xlsx` (and its `.bak`) go there. */
  dir: string;
  /** Staged source directory: its items.jsonl holds the original rows, in source order. */
  stagedDir: string;
  /** Items staged (the manifest's total): outcomes are indexed by item index. */
  total: number;
  /** The staged manifest's columns: the header's names in sheet order (after any column mapping). */
  columns: string[];
  /** The report's items.jsonl: one outcome per item (never-started items included), joined to rows by item index. */
  outcomesFile: string;
  /** The source sheet's name (the results sheet of a staged-rows workbook gets it too). Default: the first sheet. */
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

export interface ResultsWorkbook {
  file: string;
  /** Sheets of the source workbook left out (too large, a zip bomb, unreadable), and why. */
  skippedSheets: SkippedSheet[];
}

/** The source workbook as exceljs will read it: without the sheets left out (a filtered copy). */
interface CopySource {
  /** The staged copy, or a filtered copy of it beside the output. */
  file: string;
  sheets: SheetEntry[];
  entries: ZipEntry[];
}

/**
 * Writes `<dir>/results.xlsx`; a previous one becomes `results.xlsx.bak` (one backup is kept).
 * Returns the workbook's path and the source sheets it left out.
 */
export async function writeResultsWorkbook(input: ResultsWorkbookInput): Promise<ResultsWorkbook> {
  const file = path.join(input.dir, WORKBOOK_FILE);
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const filtered = `${tmp}.source.xlsx`;
  const sourceFile = sourceCopyOf(input.stagedDir);
  const copied = await access(sourceFile).then(
    () => true,
    () => false,
  );
  let source: CopySource | undefined;
  const skippedSheets: SkippedSheet[] = [];
  try {
    source = copied ? { file: sourceFile, ...(await sheetEntries(sourceFile)) } : undefined;
  } catch (err) {
    if (!(err instanceof ZipLayoutError)) throw err;
    // Not judged, so not copied: the results sheet holds the staged rows, the other sheets none.
    skippedSheets.push({
      name: '(all sheets)',
      reason: `the source workbook cannot be checked before copying (${err.message}); the results sheet holds the staged rows`,
    });
  }
  if (source) skippedSheets.push(...oversizedSheets(source.sheets, input.sheet));
  try {
    // Each sheet that fails to copy is left out and the workbook made again: at most once per sheet.
    for (let tries = 0; ; tries++) {
      try {
        let from: string | undefined;
        if (source) {
          // Always through the bounded copy: a size header that lies is caught while inflating.
          const drop = new Set(
            source.sheets.filter((s) => skippedSheets.some((k) => k.name === s.name)).map((s) => s.part),
          );
          await workbookWithout(source.file, drop, source.sheets, source.entries, filtered);
          from = filtered;
        }
        await writeWorkbook(tmp, input, from);
        break;
      } catch (err) {
        const again =
          err instanceof SheetCopyError &&
          tries < (source?.sheets.length ?? 0) &&
          !skippedSheets.some((k) => k.name === err.sheet);
        if (!again) throw err;
        skippedSheets.push({ name: err.sheet, reason: err.reason });
      }
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    await rm(filtered, { force: true });
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
  return { file, skippedSheets };
}

/** Writes the workbook to `tmp` from the source workbook `sourceFile` (undefined: the staged rows). */
async function writeWorkbook(
  tmp: string,
  input: ResultsWorkbookInput,
  sourceFile: string | undefined,
): Promise<void> {
  const outcomes = await OutcomeIndex.build(input.outcomesFile, input.total);
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
    // Styles carry the number formats that make a date cell a date (a few distinct ones are cached).
    useStyles: true,
  });
  workbook.creator = 'durabatch';
  workbook.lastModifiedBy = 'durabatch';
  workbook.created = created;
  workbook.modified = created;
  const items = jsonLines<Item>(path.join(input.stagedDir, 'items.jsonl'));

  const write = async () => {
    if (sourceFile !== undefined) {
      const found = await copyWorkbook(workbook, { sourceFile, sheet: input.sheet, items, outcomes });
      if (!found) {
        throw new Error(
          `cannot write results.xlsx: the staged workbook ${sourceCopyOf(input.stagedDir)} has no sheet "${input.sheet}", the batch's source sheet (was the staging replaced?); the other report files are complete`,
        );
      }
    } else {
      await writeStagedRows(workbook.addWorksheet(input.sheet ?? DEFAULT_SHEET), input, items, outcomes);
    }
    await workbook.commit();
    // commit() resolves on 'finish'; the file is renamed only once its descriptor is closed.
    await finished(out);
  };
  try {
    await Promise.race([write(), failed]);
  } catch (err) {
    out.destroy();
    throw err;
  } finally {
    await items.return(undefined);
    await outcomes.close();
  }
}

/**
 * Without the source workbook: the staged rows (values as the reader made them, dates as text),
 * the manifest's column names, then the added columns.
 */
async function writeStagedRows(
  sheet: ExcelJS.Worksheet,
  input: ResultsWorkbookInput,
  items: AsyncIterable<Item>,
  outcomes: OutcomeIndex,
): Promise<void> {
  // A source that is itself an earlier results workbook (fixed rows fed back) already has these
  // columns: their old values are replaced, not repeated beside the new ones.
  const added = new Set(outcomes.columns);
  const columns = input.columns.filter((c) => !added.has(c));
  const header = [...columns, ...outcomes.columns];
  let lastRow = 0;
  for await (const item of items) {
    if (lastRow === 0) {
      // The header sits right above the first row, as it usually did in the original.
      lastRow = Math.max(1, item.line - 1);
      addRow(sheet, lastRow, header);
    }
    // Each row keeps its spreadsheet row number (item.line) when it can, so row 57 here is row 57
    // of the original and of error messages; rows the reader skipped as empty stay empty.
    lastRow = item.line > lastRow ? item.line : lastRow + 1;
    addRow(sheet, lastRow, [
      ...columns.map((c) => toCell(item.data[c])),
      ...outcomes.cells(await outcomes.get(item.index)),
    ]);
  }
  if (lastRow === 0) addRow(sheet, 1, header);
  sheet.commit();
}

function addRow(sheet: ExcelJS.Worksheet, rowNumber: number, values: ExcelJS.CellValue[]): void {
  const row = sheet.getRow(rowNumber);
  row.values = values;
  // Committing hands the row to the zip stream and drops it from memory.
  row.commit();
}

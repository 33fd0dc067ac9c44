// The results workbook made from the source workbook itself (the copy kept at staging): every sheet
// in its order, every cell with its value type and style (so dates stay dates, numbers numbers,
// and number formats and fonts as they were), and the source sheet's header and rows where they
// were, with the outcome columns added. Streamed sheet by sheet and row by row through exceljs's
// reader and writer, so memory stays flat whatever the workbook's size.
import { createReadStream } from 'node:fs';
import type ExcelJS from 'exceljs';
import type { Item } from '../../workflows/types';
import { cellValue } from '../../src/source/formats/xlsx';
import { plainText } from '../../src/source/types';
import type { OutcomeIndex } from './workbook-outcomes';
import { SheetCopyError } from './workbook-sheets';

type SheetReader = AsyncIterable<ExcelJS.Row> & { id: number; name?: string };

export interface CopyInput {
  /** The staged copy of the source workbook. */
  sourceFile: string;
  /** The source sheet's name; undefined: the first sheet (as the reader chose). */
  sheet?: string;
  /** The staged items, in row order (`line` is the row number). */
  items: AsyncIterator<Item>;
  outcomes: OutcomeIndex;
}

/**
 * A cell value as the writer can store it. A formula keeps its text and last result; a cell of a
 * shared formula has no text of its own in the reader (only its master does), so it keeps its result.
 */
function copyValue(v: ExcelJS.CellValue): ExcelJS.CellValue {
  if (v && typeof v === 'object' && 'formula' in v && !v.formula) {
    return (v as { result?: ExcelJS.CellValue }).result ?? null;
  }
  return v;
}

/** Copies one row's cells and style to the writer's row of the same number; returns its last column. */
function copyRow(from: ExcelJS.Row, to: ExcelJS.Row): number {
  let last = 0;
  if (from.height) to.height = from.height;
  from.eachCell({ includeEmpty: false }, (cell, col) => {
    const target = to.getCell(col);
    target.value = copyValue(cell.value);
    if (cell.style && Object.keys(cell.style).length > 0) target.style = cell.style;
    last = col;
  });
  return last;
}

/** Writes every sheet of the source into `writer`; returns false if the source sheet was not found. */
export async function copyWorkbook(
  writer: ExcelJS.stream.xlsx.WorkbookWriter,
  input: CopyInput,
): Promise<boolean> {
  const stream = createReadStream(input.sourceFile);
  let ioError: Error | undefined;
  stream.on('error', (err) => (ioError = err));
  const { default: excel } = await import('exceljs');
  const reader = new excel.stream.xlsx.WorkbookReader(stream, {
    sharedStrings: 'cache',
    styles: 'cache', // the styles are what tell a date from a number
    hyperlinks: 'ignore',
    worksheets: 'emit',
    entries: 'emit',
  });
  let sourceDone = false;
  try {
    for await (const ws of reader as AsyncIterable<unknown> as AsyncIterable<SheetReader>) {
      const name = ws.name ?? `Sheet${ws.id}`;
      const out = writer.addWorksheet(name);
      const isSource = !sourceDone && (input.sheet === undefined || name === input.sheet);
      if (isSource) {
        await copySourceSheet(ws, out, input);
        sourceDone = true;
      } else {
        // A sheet the batch never read may hold anything exceljs cannot take (rows without `r`):
        // named, so the workbook is made again without it (workbook.ts), never fatal.
        try {
          for await (const row of ws) {
            const target = out.getRow(row.number);
            copyRow(row, target);
            target.commit();
          }
        } catch (err) {
          throw new SheetCopyError(name, (ioError ?? (err as Error)).message);
        }
      }
      out.commit();
    }
  } catch (err) {
    throw err instanceof SheetCopyError ? err : (ioError ?? err);
  } finally {
    stream.destroy();
  }
  return sourceDone;
}

/**
 * The source sheet: its first row is the header (as for the reader that made the items), the added
 * columns go after its last cell, or into a column already named so (a results workbook fed back
 * as a source gets its outcome columns replaced, not repeated). Data rows are joined to items by
 * row number; rows that are no item (blank, not selected) keep just their own cells.
 */
async function copySourceSheet(ws: SheetReader, out: ExcelJS.Worksheet, input: CopyInput): Promise<void> {
  const added = input.outcomes.columns;
  let columns: number[] | undefined;
  let pending = await input.items.next();
  for await (const row of ws) {
    const target = out.getRow(row.number);
    const last = copyRow(row, target);
    if (!columns) {
      const byName = new Map<string, number>();
      row.eachCell({ includeEmpty: false }, (cell, col) => {
        const name = plainText(cellValue(cell.value)).trim();
        if (name !== '' && !byName.has(name)) byName.set(name, col);
      });
      const headerStyle = last > 0 ? row.getCell(last).style : undefined;
      let next = last;
      columns = added.map((name) => byName.get(name) ?? ++next);
      added.forEach((name, i) => {
        const cell = target.getCell(columns![i]!);
        cell.value = name;
        if (headerStyle && Object.keys(headerStyle).length > 0) cell.style = headerStyle;
      });
    } else {
      while (!pending.done && pending.value.line < row.number) pending = await input.items.next();
      if (!pending.done && pending.value.line === row.number) {
        const cells = input.outcomes.cells(await input.outcomes.get(pending.value.index));
        cells.forEach((value, i) => (target.getCell(columns![i]!).value = value));
        pending = await input.items.next();
      }
    }
    target.commit();
  }
}

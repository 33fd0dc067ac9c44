// `npm run example:excel`: saving a spreadsheet row by row in checkpointed batches. Makes
// orders.xlsx (make-workbook.ts), runs it with orders.json (a schema, pages of 10 rows per child
// workflow) against the example target API, then reads results/results.xlsx: every order row with
// its outcome, where it was in the sheet, and checks the target saved each valid order once.
import path from 'node:path';
import ExcelJS from 'exceljs';
import type { BatchProgress } from '../../workflows/types';
import { startTargetApi } from '../target-api/server';
import { durabatchJson, finish, main, rel, ROOT, workDir } from '../lib/example';
import { BAD_ROW, makeOrdersWorkbook, ORDER_ROWS } from './make-workbook';

interface ResultRow {
  row: number;
  order: string;
  status: string;
  error: string;
}

const cellText = (v: ExcelJS.CellValue): string =>
  v === null || v === undefined
    ? ''
    : v instanceof Date
      ? v.toISOString().slice(0, 10)
      : typeof v === 'object'
        ? JSON.stringify(v)
        : String(v);

/** The results workbook's order rows: those under the header that has durabatch_status. */
async function readResults(file: string): Promise<ResultRow[]> {
  const book = new ExcelJS.Workbook();
  await book.xlsx.readFile(file);
  for (const sheet of book.worksheets) {
    let header: string[] | undefined;
    const rows: ResultRow[] = [];
    sheet.eachRow((row, number) => {
      const cells = (row.values as ExcelJS.CellValue[]).map(cellText);
      if (!header) {
        if (cells.includes('durabatch_status')) header = cells;
        return;
      }
      const at = (name: string) => cells[header!.indexOf(name)] ?? '';
      rows.push({
        row: number,
        order: at('order_id'),
        status: at('durabatch_status'),
        error: at('durabatch_error'),
      });
    });
    if (header) return rows;
  }
  throw new Error(`${file} has no sheet with a durabatch_status column`);
}

main('excel', async () => {
  const workbook = await makeOrdersWorkbook(workDir('excel'));
  process.stderr.write(`wrote ${rel(workbook)}: ${ORDER_ROWS} orders on sheet "Orders", a "Notes" sheet\n`);
  const target = await startTargetApi({ failureRate: 0.05, rateLimitRate: 0, latencyMs: [5, 30] });
  process.stderr.write(`example target API on ${target.url} (5% 503)\n`);

  const final = await durabatchJson<BatchProgress>([
    'run',
    rel(workbook),
    '--config',
    rel(path.join(ROOT, 'examples', 'excel', 'orders.json')),
    '--url',
    `${target.url}/api/orders`,
    '--new',
    '--json',
    ...process.argv.slice(2),
  ]).finally(() => target.close());

  const resultsFile = path.join(final.outputDir, 'results', 'results.xlsx');
  const rows = await readResults(resultsFile);
  const succeeded = rows.filter((r) => r.status === 'succeeded');
  const skipped = rows.filter((r) => r.status === 'skipped');
  process.stderr.write(`\n${rel(resultsFile)}: ${rows.length} order rows with their outcome\n`);
  for (const r of skipped) process.stderr.write(`  row ${r.row} ${r.order}: ${r.status}, ${r.error}\n`);

  const saved = target.received().filter((r) => r.effects > 0);
  const ok =
    final.code === 0 &&
    rows.length === ORDER_ROWS &&
    succeeded.length === ORDER_ROWS - 1 &&
    skipped.length === 1 &&
    skipped[0]!.row === BAD_ROW + 1 &&
    skipped[0]!.error.startsWith('InvalidItem') &&
    saved.length === ORDER_ROWS - 1 &&
    saved.every((r) => r.effects === 1 && r.path === '/api/orders');
  await finish(
    'excel',
    ok,
    `results.xlsx has ${rows.length} order rows: ${succeeded.length} succeeded, ${skipped.length} skipped ` +
      `(row ${skipped.map((r) => r.row).join(', ')}); the target saved ${saved.length} orders, ` +
      `${saved.filter((r) => r.effects > 1).length} twice`,
  );
});

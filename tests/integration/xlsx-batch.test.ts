// An XLSX source end to end on a real dev server: one named sheet of a multi-sheet workbook → batch →
// http items against the example target (a few forced to fail) → results/results.xlsx, the original
// rows with their outcomes, rewritten safely when the report is written again.
import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../activities/results/report';
import { OUTCOME_COLUMNS } from '../../activities/results/workbook';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { stageOptionsFromConfig } from '../../src/source/options';
import { sourceRef, stageSource } from '../../src/source/stage';
import { emptyStats } from '../../workflows/stats';
import { createTestContext, type TestContext } from '../helpers/context';
import { writeCsv } from '../helpers/files';
import { finalProgress } from '../helpers/engine';

const ROWS = 300;
/** Source rows answered 422 by the target (by position among the data rows, 1-based). */
const FAILING = new Set([7, 50, 123, 200, 299]);
/** A row with no name: invalid under the schema below, so skipped without running. */
const NAMELESS = 42;
/** An empty spreadsheet row after this data row: the reader skips it, the results keep the gap. */
const GAP_AFTER = 150;

interface SourceRow {
  id: string;
  name: string;
  age: number;
  status: string;
}

function sourceRows(): SourceRow[] {
  return Array.from({ length: ROWS }, (_, i) => ({
    id: `P${String(i + 1).padStart(4, '0')}`,
    name: i + 1 === NAMELESS ? '' : `Patient ${i + 1}`,
    age: 20 + (i % 60),
    status: FAILING.has(i + 1) ? '422' : '0',
  }));
}

/** A workbook whose first sheet is not the one to read, and whose data has one blank row inside. */
async function writeWorkbook(file: string, rows: SourceRow[]): Promise<void> {
  const wb = new ExcelJS.Workbook();
  const notes = wb.addWorksheet('Notes');
  notes.addRow(['about', 'text']);
  notes.addRow(['this sheet', 'is not the source']);
  const ws = wb.addWorksheet('Patients');
  ws.addRow(['id', 'name', 'age', 'status']);
  rows.forEach((r, i) => {
    ws.addRow([r.id, r.name, r.age, r.status]);
    if (i + 1 === GAP_AFTER) ws.addRow([]);
  });
  await wb.xlsx.writeFile(file);
}

/** The spreadsheet row of source data row `n` (1-based): the header is row 1, the gap shifts the rest. */
function sheetRowOf(n: number): number {
  return n + 1 + (n > GAP_AFTER ? 1 : 0);
}

async function readSheet(file: string): Promise<ExcelJS.Worksheet> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(file);
  expect(wb.worksheets).toHaveLength(1);
  return wb.worksheets[0]!;
}

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

describe('xlsx batch through a real Temporal dev server', () => {
  let ctx: TestContext;
  let target: TargetApi;

  beforeAll(async () => {
    ctx = await createTestContext('xlsx');
    target = await startTargetApi({ failureRate: 0, rateLimitRate: 0, latencyMs: [1, 3] });
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('writes results.xlsx: every source row with its outcome, and keeps a backup when rewritten', async () => {
    const rows = sourceRows();
    const xlsx = path.join(ctx.dir, 'patients.xlsx');
    await writeWorkbook(xlsx, rows);
    const config = ctx.config({
      batchId: `xlsx-${Date.now()}`,
      format: 'xlsx',
      sheet: 'Patients',
      idColumn: 'id',
      concurrency: 20,
      schema: { required: ['name'] },
      http: { url: `${target.url}/patients{?status}` },
    });
    const started = await ctx.batches.start(xlsx, config);
    expect(started.total).toBe(ROWS);
    expect(started.invalid).toBe(1);

    const result = await finalProgress(started.handle);
    const failing = FAILING.size;
    expect(result).toMatchObject({
      status: 'partial_failure',
      total: ROWS,
      succeeded: ROWS - failing - 1,
      failed: failing,
      skipped: 1,
      cancelled: 0,
      running: 0,
      pending: 0,
    });
    expect(result.errorsByType).toMatchObject({ PermanentTargetError: failing });

    const resultsDir = path.join(config.outputDir!, 'results');
    const file = path.join(resultsDir, 'results.xlsx');
    const checkWorkbook = async (workbookFile: string) => {
      const sheet = await readSheet(workbookFile);
      expect(sheet.getRow(1).values).toEqual([undefined, 'id', 'name', 'age', 'status', ...OUTCOME_COLUMNS]);
      // The blank source row stays blank: every other row is where it was in the original sheet.
      expect(sheet.getRow(GAP_AFTER + 2).hasValues).toBe(false);
      expect(sheet.actualRowCount).toBe(ROWS + 1);
      const seen = new Set<string>();
      rows.forEach((r, i) => {
        const n = i + 1;
        const row = sheet.getRow(sheetRowOf(n));
        const [id, name, age, status, outcome, attempts, error] = (row.values as unknown[]).slice(1);
        expect({ id, age, status }).toEqual({ id: r.id, age: r.age, status: r.status });
        seen.add(String(id));
        if (n === NAMELESS) {
          expect(name).toBeUndefined();
          expect({ outcome, attempts }).toEqual({ outcome: 'skipped', attempts: 0 });
          expect(error).toMatch(/^InvalidItem: .*name/);
        } else if (FAILING.has(n)) {
          expect({ name, outcome, attempts }).toEqual({ name: r.name, outcome: 'failed', attempts: 1 });
          expect(error).toMatch(/^PermanentTargetError: POST .*status=422 answered 422/);
        } else {
          expect({ name, outcome, attempts, error }).toEqual({
            name: r.name,
            outcome: 'succeeded',
            attempts: 1,
            error: undefined,
          });
        }
      });
      expect(seen.size).toBe(ROWS);
    };
    await checkWorkbook(file);
    expect(await exists(`${file}.bak`)).toBe(false);

    // The report written again (as a retried activity would): the first workbook becomes the backup,
    // the new one is complete, and no temporary file is left behind.
    const staged = sourceRef(await stageSource(xlsx, stageOptionsFromConfig(config, ctx.home)));
    const pages = await readdir(path.join(resultsDir, 'pages'));
    await writeReport({
      batchId: started.batchId,
      outputDir: config.outputDir!,
      source: staged,
      progress: result,
      resultsPages: pages.length,
      notStartedFrom: ROWS,
      stats: emptyStats(),
      failures: [],
    });
    await checkWorkbook(`${file}.bak`);
    await checkWorkbook(file);
    expect((await readdir(resultsDir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writes no workbook for a CSV source', async () => {
    const csv = await writeCsv(ctx.dir, 'plain.csv', [
      { id: 'a', status: '0' },
      { id: 'b', status: '0' },
    ]);
    const config = ctx.config({
      batchId: `csv-${Date.now()}`,
      idColumn: 'id',
      http: { url: `${target.url}/patients{?status}` },
    });
    const started = await ctx.batches.start(csv, config);
    expect(await started.handle.result()).toMatchObject({ status: 'completed', succeeded: 2 });
    const files = await readdir(path.join(config.outputDir!, 'results'));
    expect(files).toContain('summary.json');
    expect(files.filter((f) => f.includes('xlsx'))).toEqual([]);
  });
});

// An XLSX source end to end on a real dev server: one named sheet of a multi-sheet workbook → batch →
// http items against the example target (a few forced to fail) → results/results.xlsx, the original
// workbook (other sheets, dates, numbers, formulas, header names) with each row's outcome and the
// target's answer in more columns, rewritten safely when the report is written again, and made from
// the staged rows when the staging kept no copy of the workbook.
import { access, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../activities/results/report';
import { OUTCOME_COLUMNS } from '../../activities/results/workbook';
import { sourceCopyOf } from '../../src/source/source-copy';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { stageOptionsFromConfig } from '../../src/config/stage-options';
import { sourceRef, stageSource } from '../../src/source/stage';
import { createTestContext, type TestContext } from '../helpers/context';
import { writeCsv } from '../helpers/files';
import { finalProgress, readItems } from '../helpers/engine';

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
  born: Date;
  status: string;
}

function sourceRows(): SourceRow[] {
  return Array.from({ length: ROWS }, (_, i) => ({
    id: `P${String(i + 1).padStart(4, '0')}`,
    name: i + 1 === NAMELESS ? '' : `Patient ${i + 1}`,
    age: 20 + (i % 60),
    born: new Date(Date.UTC(1960 + (i % 40), i % 12, 1 + (i % 28))),
    status: FAILING.has(i + 1) ? '422' : '0',
  }));
}

/** The source sheet's header: `Patient ID` is renamed `id` by the batch's column mapping. */
const HEADER = ['Patient ID', 'name', 'age', 'born', 'status'];
const LOOKUP_DAY = new Date(Date.UTC(2024, 2, 1));

/**
 * A workbook whose first sheet is not the one to read, with a date column, one blank row inside
 * the data, and a sheet after it holding a date, a number and a formula.
 */
async function writeWorkbook(file: string, rows: SourceRow[]): Promise<void> {
  const wb = new ExcelJS.Workbook();
  const notes = wb.addWorksheet('Notes');
  notes.addRow(['about', 'text']);
  notes.addRow(['this sheet', 'is not the source']);
  const ws = wb.addWorksheet('Patients');
  ws.addRow(HEADER);
  rows.forEach((r, i) => {
    ws.addRow([r.id, r.name, r.age, r.born, r.status]).getCell(4).numFmt = 'yyyy-mm-dd';
    if (i + 1 === GAP_AFTER) ws.addRow([]);
  });
  const lookup = wb.addWorksheet('Lookup');
  lookup.addRow(['code', 'amount', 'day', 'double']);
  const row = lookup.addRow(['A1', 42, LOOKUP_DAY, { formula: 'B2*2', result: 84 }]);
  row.getCell(3).numFmt = 'dd/mm/yyyy';
  await wb.xlsx.writeFile(file);
}

/** The spreadsheet row of source data row `n` (1-based): the header is row 1, the gap shifts the rest. */
function sheetRowOf(n: number): number {
  return n + 1 + (n > GAP_AFTER ? 1 : 0);
}

async function readWorkbook(file: string): Promise<ExcelJS.Workbook> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(file);
  return wb;
}

/** The output columns: the target's JSON answer `{ id, receivedAt, path, data }`, a column per field. */
const OUTPUT_COLUMNS = ['id', 'receivedAt', 'path', 'data'].map((f) => `durabatch_output.${f}`);

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

  it("writes results.xlsx: the source workbook with each row's outcome and output, kept when rewritten", async () => {
    const rows = sourceRows();
    const xlsx = path.join(ctx.dir, 'patients.xlsx');
    await writeWorkbook(xlsx, rows);
    const batchId = `xlsx-${Date.now()}`;
    const config = ctx.config({
      batchId,
      format: 'xlsx',
      sheet: 'Patients',
      columns: { 'Patient ID': 'id' },
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
    // What the target answered each succeeded row: its `id` and the time it took the request.
    const received = new Map(target.received().map((r) => [r.idempotencyKey, r]));
    const answers = new Map(
      (await readItems(started.outputDir))
        .filter((o) => o.status === 'succeeded')
        .map((o) => [o.key, JSON.parse(o.output!) as { id: string }]),
    );
    expect(answers.size).toBe(ROWS - failing - 1);

    const resultsDir = path.join(config.outputDir!, 'results');
    const file = path.join(resultsDir, 'results.xlsx');
    /** Checks the Patients rows; `fromCopy`: made from the workbook (original header, dates as dates). */
    const checkPatients = (sheet: ExcelJS.Worksheet, fromCopy: boolean) => {
      const header = fromCopy ? HEADER : ['id', 'name', 'age', 'born', 'status'];
      expect(sheet.getRow(1).values).toEqual([undefined, ...header, ...OUTCOME_COLUMNS, ...OUTPUT_COLUMNS]);
      // The blank source row stays blank: every other row is where it was in the original sheet.
      expect(sheet.getRow(GAP_AFTER + 2).hasValues).toBe(false);
      expect(sheet.actualRowCount).toBe(ROWS + 1);
      const seen = new Set<string>();
      rows.forEach((r, i) => {
        const n = i + 1;
        const row = sheet.getRow(sheetRowOf(n));
        const [id, name, age, born, status, outcome, attempts, error, ...output] = (
          row.values as unknown[]
        ).slice(1);
        // A date stays a date (the day the source showed), a number a number.
        const day = r.born.toISOString().slice(0, 10);
        expect({ id, age, status }).toEqual({ id: r.id, age: r.age, status: r.status });
        expect(fromCopy ? (born as Date).toISOString().slice(0, 10) : born).toBe(day);
        if (fromCopy) expect(born).toBeInstanceOf(Date);
        expect(typeof age).toBe('number');
        seen.add(String(id));
        if (n === NAMELESS) {
          expect(name).toBeUndefined();
          expect({ outcome, attempts, output }).toEqual({ outcome: 'skipped', attempts: 0, output: [] });
          expect(error).toMatch(/^InvalidItem: .*name/);
        } else if (FAILING.has(n)) {
          expect({ name, outcome, attempts, output }).toEqual({
            name: r.name,
            outcome: 'failed',
            attempts: 1,
            output: [],
          });
          expect(error).toMatch(/^PermanentTargetError: POST .*status=422 answered 422/);
        } else {
          expect({ name, outcome, attempts, error }).toEqual({
            name: r.name,
            outcome: 'succeeded',
            attempts: 1,
            error: undefined,
          });
          // The target's answer, a column per field; its nested `data` (the request) as JSON text.
          const [outId, receivedAt, outPath, data] = output;
          expect(outId).toBe(answers.get(r.id)!.id);
          expect(outId).toMatch(/^pat_\d+$/);
          expect(receivedAt).toBe(received.get(`${batchId}:${r.id}`)!.lastAt);
          expect(outPath).toBe('/patients');
          expect(JSON.parse(data as string)).toEqual({
            id: r.id,
            name: r.name,
            age: r.age,
            born: day,
            status: r.status,
          });
        }
      });
      expect(seen.size).toBe(ROWS);
    };
    const checkWorkbook = async (workbookFile: string) => {
      const wb = await readWorkbook(workbookFile);
      // Every sheet of the source, in its order.
      expect(wb.worksheets.map((w) => w.name)).toEqual(['Notes', 'Patients', 'Lookup']);
      const notes = wb.getWorksheet('Notes')!;
      expect([notes.getRow(1).values, notes.getRow(2).values, notes.actualRowCount]).toEqual([
        [undefined, 'about', 'text'],
        [undefined, 'this sheet', 'is not the source'],
        2,
      ]);
      const lookup = wb.getWorksheet('Lookup')!;
      expect(lookup.getRow(2).values).toEqual([
        undefined,
        'A1',
        42,
        LOOKUP_DAY,
        { formula: 'B2*2', result: 84 },
      ]);
      expect(lookup.getCell('C2').numFmt).toBe('dd/mm/yyyy');
      checkPatients(wb.getWorksheet('Patients')!, true);
    };
    await checkWorkbook(file);
    expect(await exists(`${file}.bak`)).toBe(false);

    // The report written again (as a retried activity would): the first workbook becomes the backup,
    // the new one is complete, and no temporary file is left behind.
    const staged = sourceRef(await stageSource(xlsx, stageOptionsFromConfig(config, ctx.home)));
    const pages = await readdir(path.join(resultsDir, 'pages'));
    const rewrite = () =>
      writeReport({
        batchId: started.batchId,
        outputDir: config.outputDir!,
        source: staged,
        progress: result,
        resultsPages: pages.length,
        notStartedFrom: ROWS,
        failures: [],
        sheet: 'Patients',
      });
    await rewrite();
    await checkWorkbook(`${file}.bak`);
    await checkWorkbook(file);
    expect((await readdir(resultsDir)).filter((f) => f.includes('.tmp-'))).toEqual([]);

    // A staging without the workbook's copy (made by an earlier version): the staged rows, one sheet.
    await rm(sourceCopyOf(staged.dir));
    await rewrite();
    const wb = await readWorkbook(file);
    expect(wb.worksheets.map((w) => w.name)).toEqual(['Patients']);
    checkPatients(wb.worksheets[0]!, false);
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

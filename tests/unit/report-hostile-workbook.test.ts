// The report of an XLSX batch whose workbook holds sheets the batch never read: a deflate bomb, rows
// without `r`, a sheet or a part whose size header lies. The core files and the summary are always
// written; such a sheet is left out of results.xlsx and named; a workbook that cannot be built at
// all is named in summary.json (`workbookError`) and summary.txt, and the report does not fail.
import { access, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { writeResultsPage } from '../../activities/results/pages';
import { writeReport } from '../../activities/results/report';
import { SHEET_COPY_LIMITS } from '../../activities/results/workbook-sheets';
import { sourceRef, stageSource } from '../../src/source/stage';
import type { BatchProgress, ItemOutcome } from '../../workflows/types';
import { bombSheet, hostileWorkbook, lieAboutSize, plainSheet, rowsWithoutR } from '../helpers/hostile-xlsx';

const ROWS = 5;

const outcome = (index: number): ItemOutcome => ({
  index,
  key: `K${index + 1}`,
  status: 'succeeded',
  attempts: 1,
  latencyMs: 3,
  startedAt: '2026-12-07T00:00:00.000Z',
  endedAt: '2026-12-07T00:00:01.000Z',
});

function progress(batchId: string, outputDir: string): BatchProgress {
  return {
    batchId,
    status: 'completed',
    total: ROWS,
    succeeded: ROWS,
    failed: 0,
    skipped: 0,
    cancelled: 0,
    running: 0,
    pending: 0,
    percent: 100,
    throughputPerMinute: 0,
    latencyMs: { avg: 3, p50: 3, p95: 3, p99: 3 },
    errorRate: 0,
    etaSeconds: 0,
    cost: 0,
    budget: null,
    startedAt: '2026-12-07T00:00:00.000Z',
    endedAt: '2026-12-07T00:00:05.000Z',
    outputDir,
    webUiUrl: null,
    concurrency: 2,
    rate: null,
    runNumber: 1,
    errorsByType: {},
  };
}

interface Summary {
  workbookError?: string;
  workbookSkippedSheets?: { name: string; reason: string }[];
  files: { workbook?: string };
}

/** Stages `source` (sheet Data), writes one page of outcomes and the report; returns what it wrote. */
async function report(dir: string, source: string) {
  const staged = await stageSource(source, { home: path.join(dir, 'home'), idColumn: 'id', sheet: 'Data' });
  const outputDir = path.join(dir, 'out');
  const outcomes = Array.from({ length: ROWS }, (_, i) => outcome(i));
  await writeResultsPage({ outputDir, batchId: 'hostile', page: 0, outcomes });
  const started = Date.now();
  await writeReport({
    batchId: 'hostile',
    outputDir,
    source: sourceRef(staged),
    progress: progress('hostile', outputDir),
    resultsPages: 1,
    notStartedFrom: ROWS,
    failures: [],
    sheet: 'Data',
  });
  const results = path.join(outputDir, 'results');
  for (const f of ['summary.json', 'summary.txt', 'results.csv', 'failed.csv', 'items.jsonl'])
    await access(path.join(results, f));
  return {
    ms: Date.now() - started,
    results,
    summary: JSON.parse(await readFile(path.join(results, 'summary.json'), 'utf8')) as Summary,
    text: await readFile(path.join(results, 'summary.txt'), 'utf8'),
    csvLines: (await readFile(path.join(results, 'results.csv'), 'utf8')).trim().split('\n').length,
  };
}

async function sheetsOf(file: string): Promise<Map<string, ExcelJS.Worksheet>> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(file);
  return new Map(wb.worksheets.map((w) => [w.name, w]));
}

describe('report of a workbook with hostile unread sheets', () => {
  it('leaves out a deflate bomb and a sheet of rows without `r`, naming both, and copies the rest', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hostile-wb-'));
    const source = path.join(dir, 'source.xlsx');
    const bombBytes = SHEET_COPY_LIMITS.maxSheetBytes + 8 * 1024 * 1024;
    await hostileWorkbook(source, ROWS, [
      { name: 'Bomb', xml: bombSheet(bombBytes) },
      { name: 'Ratio', xml: bombSheet(4 * 1024 * 1024) },
      { name: 'NoR', xml: rowsWithoutR(3) },
      { name: 'Fine', xml: plainSheet(3) },
    ]);
    const r = await report(dir, source);

    expect(r.csvLines).toBe(ROWS + 1);
    expect(r.summary.workbookError).toBeUndefined();
    const skipped = r.summary.workbookSkippedSheets ?? [];
    expect(skipped.map((s) => s.name)).toEqual(['Bomb', 'Ratio', 'NoR']);
    expect(skipped[0]!.reason).toMatch(/^its XML is 72\.0 MB, over the 64\.0 MB a copied sheet may have$/);
    expect(skipped[1]!.reason).toMatch(
      /^its XML inflates \d{3,} times \(0\.0 MB to 4\.0 MB\), more than 100 times: a zip bomb$/,
    );
    expect(skipped[2]!.reason).not.toBe('');
    expect(r.text).toContain('workbook     sheet "Bomb" left out of results.xlsx: its XML is 72.0 MB');
    expect(r.text).toContain('workbook     sheet "NoR" left out of results.xlsx: ');

    const sheets = await sheetsOf(r.summary.files.workbook!);
    expect([...sheets.keys()]).toEqual(['Data', 'Fine']);
    const data = sheets.get('Data')!;
    expect(data.getRow(1).values).toEqual([
      undefined,
      'id',
      'name',
      'durabatch_status',
      'durabatch_attempts',
      'durabatch_error',
    ]);
    expect(data.getRow(ROWS + 1).values).toEqual([undefined, `K${ROWS}`, `name ${ROWS}`, 'succeeded', 1]);
    expect(sheets.get('Fine')!.getRow(3).getCell(1).value).toBe('note 3');
  }, 60_000);

  it('leaves out a sheet whose size header lies, once it inflates past its claim', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hostile-wb-'));
    const source = path.join(dir, 'source.xlsx');
    await hostileWorkbook(source, ROWS, [{ name: 'Liar', xml: bombSheet(2 * 1024 * 1024) }]);
    await lieAboutSize(source, 'xl/worksheets/sheet2.xml', 1000);
    const r = await report(dir, source);
    expect(r.summary.workbookSkippedSheets).toEqual([
      { name: 'Liar', reason: 'xl/worksheets/sheet2.xml inflates past its declared 1000 bytes' },
    ]);
    expect([...(await sheetsOf(r.summary.files.workbook!)).keys()]).toEqual(['Data']);
  }, 60_000);

  it('names a workbook that cannot be built in the summary, with the core files complete', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hostile-wb-'));
    const source = path.join(dir, 'source.xlsx');
    await hostileWorkbook(source, ROWS, [{ name: 'Fine', xml: plainSheet(2) }]);
    // Not a sheet: the styles part claims 10 bytes; the bounded copy refuses what it really holds.
    await lieAboutSize(source, 'xl/styles.xml', 10);
    const r = await report(dir, source);
    expect(r.summary.workbookError).toBe('WorkbookFailed: xl/styles.xml inflates past its declared 10 bytes');
    expect(r.summary.files.workbook).toBeUndefined();
    await expect(access(path.join(r.results, 'results.xlsx'))).rejects.toThrow(/ENOENT/);
    expect(r.text).toContain(
      'workbook     results.xlsx not written: WorkbookFailed: xl/styles.xml inflates past its declared 10 bytes',
    );
    expect(r.csvLines).toBe(ROWS + 1);
  }, 60_000);
});

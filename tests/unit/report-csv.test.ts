// results.csv and failed.csv as a spreadsheet reads them: no cell from an item or a target runs as a
// formula unless the batch asked for raw cells, and failed.csv keeps every field of a failed row.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { csvLine, neutraliseFormula } from '../../activities/results/csv-cells';
import { writeResultsPage } from '../../activities/results/pages';
import { writeReport } from '../../activities/results/report';
import { sourceRef, stageSource } from '../../src/source/stage';
import type { BatchProgress, ItemOutcome } from '../../workflows/types';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'report-csv-'));
});

describe('neutraliseFormula', () => {
  it.each([
    ['=HYPERLINK("http://evil","x")', `'=HYPERLINK("http://evil","x")`],
    ['+cmd|" /C calc"!A0', `'+cmd|" /C calc"!A0`],
    ['-2+3', "'-2+3"],
    ['@SUM(A1:A9)', "'@SUM(A1:A9)"],
    ['\t=1+1', "'\t=1+1"],
    ['\r=1+1', "'\r=1+1"],
    ['-', "'-"],
    ['+1 555 0100', "'+1 555 0100"],
    // One more quote, so reading failed.csv back can undo exactly one (a spreadsheet shows `'=already`).
    ["'=already", "''=already"],
  ])('prefixes %j', (cell, expected) => {
    expect(neutraliseFormula(cell)).toBe(expected);
  });

  it.each(['-5', '+3.25', '-0.5', '-.5', '-1e-3', '12', 'plain', '', 'a=b', ' =1', "'quoted"])(
    'keeps %j (plain numbers are data, not formulas)',
    (cell) => {
      expect(neutraliseFormula(cell)).toBe(cell);
    },
  );

  it('csvLine neutralises by default and keeps raw cells with formulas: true', () => {
    expect(csvLine(['=1+2', '-5', '@x'])).toBe("'=1+2,-5,'@x\n");
    expect(csvLine(['=1+2', '-5', '@x'], { formulas: true })).toBe('=1+2,-5,@x\n');
  });
});

function progress(outputDir: string, total: number): BatchProgress {
  return {
    batchId: 'csv',
    status: 'failed',
    total,
    succeeded: 0,
    failed: total,
    skipped: 0,
    cancelled: 0,
    running: 0,
    pending: 0,
    percent: 100,
    throughputPerMinute: 0,
    latencyMs: { avg: 0, p50: 0, p95: 0, p99: 0 },
    errorRate: 1,
    etaSeconds: null,
    cost: 0,
    budget: null,
    startedAt: '2026-11-27T00:00:00.000Z',
    endedAt: '2026-11-27T00:00:09.000Z',
    outputDir,
    webUiUrl: null,
    concurrency: 2,
    rate: null,
    runNumber: 1,
    errorsByType: {},
  };
}

function failed(index: number, key: string, errorMessage: string): ItemOutcome {
  return {
    index,
    key,
    status: 'failed',
    attempts: 2,
    latencyMs: 5,
    startedAt: '2026-11-27T00:00:00.000Z',
    endedAt: '2026-11-27T00:00:01.000Z',
    errorType: 'PermanentHttpError',
    errorMessage,
  };
}

/** Stages `source`, writes one page of these outcomes, and the report; returns the parsed CSVs. */
async function report(name: string, source: string, outcomes: ItemOutcome[], csvFormulas?: boolean) {
  const file = path.join(dir, name);
  await writeFile(file, source);
  const staged = await stageSource(file, { home: dir, idColumn: 'id' });
  const outputDir = path.join(dir, `out-${name}`);
  await writeResultsPage({ outputDir, batchId: 'csv', page: 0, outcomes });
  await writeReport({
    batchId: 'csv',
    outputDir,
    source: sourceRef(staged),
    progress: progress(outputDir, outcomes.length),
    resultsPages: 1,
    notStartedFrom: outcomes.length,
    failures: [],
    csvFormulas,
  });
  const read = async (f: string): Promise<string[][]> =>
    parse(await readFile(path.join(outputDir, 'results', f), 'utf8'), { relax_column_count: true });
  return { results: await read('results.csv'), failed: await read('failed.csv') };
}

describe('writeReport: CSV injection', () => {
  const source = 'id,formula,amount\n=K1,"=HYPERLINK(""http://x"",""y"")",-5\n@K2,+cmd,-12.5\n';
  const outcomes = [failed(0, '=K1', '-bad request: =1+1 in field'), failed(1, '@K2', '@target says no')];

  it('neutralises formula cells from keys, source values and error messages; keeps negative numbers', async () => {
    const { results, failed: rows } = await report('inject.csv', source, outcomes);
    expect(results.slice(1).map((r) => [r[0], r[7]])).toEqual([
      ["'=K1", "'-bad request: =1+1 in field"],
      ["'@K2", "'@target says no"],
    ]);
    expect(rows).toEqual([
      ['id', 'formula', 'amount', '_error_type', '_error_message', '_attempts'],
      [
        "'=K1",
        `'=HYPERLINK("http://x","y")`,
        '-5',
        'PermanentHttpError',
        "'-bad request: =1+1 in field",
        '2',
      ],
      ["'@K2", "'+cmd", '-12.5', 'PermanentHttpError', "'@target says no", '2'],
    ]);
  });

  it('csvFormulas keeps every cell as it is', async () => {
    const { results, failed: rows } = await report('raw.csv', source, outcomes, true);
    expect(results[1]![0]).toBe('=K1');
    expect(rows[1]).toEqual([
      '=K1',
      '=HYPERLINK("http://x","y")',
      '-5',
      'PermanentHttpError',
      '-bad request: =1+1 in field',
      '2',
    ]);
  });
});

describe('writeReport: failed.csv columns', () => {
  it('keeps every column of a failed row, past the 1,000 the manifest lists', async () => {
    const width = 1_500;
    const names = Array.from({ length: width }, (_, i) => `c${i}`);
    const row = (id: string) => [id, ...names.map((n) => `${n}-${id}`)].join(',');
    const source = `${['id', ...names].join(',')}\n${row('A')}\n${row('B')}\n`;
    const { failed: rows } = await report('wide.csv', source, [failed(1, 'B', 'no')]);
    expect(rows[0]).toHaveLength(1 + width + 3);
    expect(rows[0]!.slice(0, 2)).toEqual(['id', 'c0']);
    expect(rows[0]!.slice(-4)).toEqual([`c${width - 1}`, '_error_type', '_error_message', '_attempts']);
    expect(rows).toHaveLength(2);
    expect(rows[1]!.slice(0, 1 + width)).toEqual(['B', ...names.map((n) => `${n}-B`)]);
  });

  it('a JSONL failed row with fields no earlier row had gets them as columns', async () => {
    const lines = [
      ...Array.from({ length: 1_001 }, (_, i) => JSON.stringify({ id: `r${i}`, [`only${i}`]: i })),
      JSON.stringify({ id: 'late', late_field: 'kept', only0: 'x' }),
    ];
    const file = path.join(dir, 'varying.jsonl');
    await writeFile(file, lines.join('\n') + '\n');
    const staged = await stageSource(file, { home: dir, idColumn: 'id' });
    const outputDir = path.join(dir, 'out-varying');
    await writeResultsPage({ outputDir, batchId: 'csv', page: 0, outcomes: [failed(1_001, 'late', 'no')] });
    await writeReport({
      batchId: 'csv',
      outputDir,
      source: sourceRef(staged),
      progress: progress(outputDir, 1),
      resultsPages: 1,
      notStartedFrom: lines.length,
      failures: [],
    });
    const rows = parse<Record<string, string>>(
      await readFile(path.join(outputDir, 'results', 'failed.csv'), 'utf8'),
      { columns: true },
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: 'late', late_field: 'kept', only0: 'x', _error_message: 'no' });
  });
});

import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeResultsPage } from '../../activities/results/pages';
import { writeReport } from '../../activities/results/report';
import { sourceRef, stageSource } from '../../src/source/stage';
import { emptyStats } from '../../workflows/stats';
import type { BatchProgress, ItemOutcome } from '../../workflows/types';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'report-test-'));
});

function outcome(
  index: number,
  status: ItemOutcome['status'],
  extra: Partial<ItemOutcome> = {},
): ItemOutcome {
  return {
    index,
    key: `K${index}`,
    status,
    attempts: status === 'failed' ? 3 : 1,
    latencyMs: 10 + index,
    startedAt: '2026-11-27T00:00:00.000Z',
    endedAt: '2026-11-27T00:00:01.000Z',
    ...extra,
  };
}

function progress(outputDir: string): BatchProgress {
  return {
    batchId: 'report-test',
    status: 'cancelled',
    total: 6,
    succeeded: 2,
    failed: 1,
    skipped: 1,
    cancelled: 2,
    running: 0,
    pending: 0,
    percent: 100,
    throughputPerMinute: 0,
    latencyMs: { avg: 0, p50: 0, p95: 0, p99: 0 },
    errorRate: 0,
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

describe('writeReport', () => {
  it('streams pages into items.jsonl, results.csv and failed.csv, once per item, never-started items last', async () => {
    const csv = path.join(dir, 'in.csv');
    await writeFile(csv, 'id,name\nK0,"Doe, Jane"\nK1,b\nK2,c\nK3,d\nK4,e\nK5,f\n');
    const staged = await stageSource(csv, { home: dir, idColumn: 'id' });
    const outputDir = path.join(dir, 'out');
    // Page 1 repeats K1 (a page rewritten after a retry): the first record counts.
    await writeResultsPage({
      outputDir,
      batchId: 'b',
      page: 0,
      outcomes: [
        outcome(1, 'succeeded'),
        outcome(0, 'failed', { errorType: 'PermanentHttpError', errorMessage: 'HTTP 422, "bad"' }),
      ],
    });
    await writeResultsPage({
      outputDir,
      batchId: 'b',
      page: 1,
      outcomes: [
        outcome(1, 'failed'),
        outcome(3, 'skipped', { errorType: 'InvalidItem', errorMessage: 'name is empty' }),
        outcome(2, 'succeeded'),
      ],
    });
    await writeReport({
      batchId: 'b',
      outputDir,
      source: sourceRef(staged),
      progress: progress(outputDir),
      resultsPages: 2,
      notStartedFrom: 4,
      stats: emptyStats(),
      failures: [],
    });
    const results = path.join(outputDir, 'results');
    const items = (await readFile(path.join(results, 'items.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ItemOutcome);
    expect(items.map((o) => `${o.key}:${o.status}`)).toEqual([
      'K1:succeeded',
      'K0:failed',
      'K3:skipped',
      'K2:succeeded',
      'K4:cancelled',
      'K5:cancelled',
    ]);
    expect(items[4]).toMatchObject({
      errorType: 'NotStarted',
      attempts: 0,
      endedAt: '2026-11-27T00:00:09.000Z',
    });

    const rows = parse<Record<string, string>>(await readFile(path.join(results, 'results.csv'), 'utf8'), {
      columns: true,
    });
    expect(rows).toHaveLength(6);
    expect(rows[1]).toMatchObject({
      key: 'K0',
      status: 'failed',
      attempts: '3',
      errorMessage: 'HTTP 422, "bad"',
    });

    const failed: string[][] = parse(await readFile(path.join(results, 'failed.csv'), 'utf8'));
    expect(failed).toEqual([
      ['id', 'name', '_error_type', '_error_message', '_attempts'],
      ['K0', 'Doe, Jane', 'PermanentHttpError', 'HTTP 422, "bad"', '3'],
      ['K3', 'd', 'InvalidItem', 'name is empty', '1'],
    ]);
    const summary = JSON.parse(await readFile(path.join(results, 'summary.json'), 'utf8')) as {
      files: Record<string, string>;
    };
    expect(summary.files.items).toBe(path.join(results, 'items.jsonl'));
    // Nothing temporary is left beside the report.
    expect((await readdir(results)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('refuses a page whose item is not in the staged source, naming the page', async () => {
    const csv = path.join(dir, 'two.csv');
    await writeFile(csv, 'id\nK0\nK1\n');
    const staged = await stageSource(csv, { home: dir, idColumn: 'id' });
    const outputDir = path.join(dir, 'other');
    await writeResultsPage({ outputDir, batchId: 'b', page: 0, outcomes: [outcome(7, 'succeeded')] });
    await expect(
      writeReport({
        batchId: 'b',
        outputDir,
        source: sourceRef(staged),
        progress: progress(outputDir),
        resultsPages: 1,
        notStartedFrom: 2,
        stats: emptyStats(),
        failures: [],
      }),
    ).rejects.toThrow(/page-000000\.jsonl holds item K7 at index 7, outside the staged source's 2 items/);
    expect(await readdir(path.join(outputDir, 'results'))).toEqual(['pages']);
  });
});

// The final report: joins the result pages into items.jsonl, results.csv and failed.csv (the
// original rows of failed items plus the error, ready to fix and feed back), and writes
// summary.json / summary.txt. Every file is rebuilt from the pages and replaced atomically, so a
// retried report activity produces the same files.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { readManifest } from '../../src/source/stage';
import type { StatsState } from '../../workflows/stats';
import type { BatchProgress, FailureRecord, Item, ItemOutcome, StagedSourceRef } from '../../workflows/types';
import { pageFile, resultsDir, writeFileAtomic } from './files';
import { formatSummaryText } from './summary-text';
import { writeResultsWorkbook } from './workbook';
import { jsonLines } from '../../src/util/json-lines';

export interface WriteReportInput {
  batchId: string;
  outputDir: string;
  source: StagedSourceRef;
  progress: BatchProgress;
  resultsPages: number;
  /** Items from this index on never started (the batch was cancelled or failed first). */
  notStartedFrom: number;
  stats: StatsState;
  failures: FailureRecord[];
  /** XLSX sources: also write results/results.xlsx, the original rows plus their outcomes. Default true. */
  resultsWorkbook?: boolean;
  /** The XLSX source's sheet name, given to the results workbook's sheet. Default `Results`. */
  sheet?: string;
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

const RESULT_COLUMNS = [
  'key',
  'index',
  'status',
  'attempts',
  'latencyMs',
  'httpStatus',
  'errorType',
  'errorMessage',
  'startedAt',
  'endedAt',
] as const;

export async function writeReport(input: WriteReportInput): Promise<void> {
  const dir = resultsDir(input.outputDir);
  const outcomes: ItemOutcome[] = [];
  const seen = new Set<string>();
  for (let page = 0; page < input.resultsPages; page++) {
    const text = await readFile(pageFile(input.outputDir, page), 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      const o = JSON.parse(line) as ItemOutcome;
      if (!seen.has(o.key)) outcomes.push(o);
      seen.add(o.key);
    }
  }
  const failedByIndex = new Map<number, ItemOutcome>();
  // Rows to fix and feed back: failed items, and rows rejected as invalid before they ran.
  for (const o of outcomes)
    if (o.status === 'failed' || o.errorType === 'InvalidItem') failedByIndex.set(o.index, o);

  // One pass over the staged source: original rows of failed items, and never-started items.
  const manifest = await readManifest(input.source.dir);
  const failedRows: string[][] = [];
  const endedAt = input.progress.endedAt ?? new Date().toISOString();
  for await (const item of jsonLines<Item>(path.join(input.source.dir, 'items.jsonl'))) {
    const failed = failedByIndex.get(item.index);
    if (failed) {
      failedRows.push([
        ...manifest.columns.map((c) => cell(item.data[c])),
        failed.errorType ?? '',
        failed.errorMessage ?? '',
        String(failed.attempts),
      ]);
    }
    if (item.index >= input.notStartedFrom && !seen.has(item.key)) {
      outcomes.push({
        index: item.index,
        key: item.key,
        status: 'cancelled',
        attempts: 0,
        latencyMs: 0,
        startedAt: endedAt,
        endedAt,
        errorType: 'NotStarted',
        errorMessage: `batch ended ${input.progress.status} before this item started`,
      });
    }
  }

  await writeFileAtomic(
    path.join(dir, 'items.jsonl'),
    outcomes.map((o) => JSON.stringify(o)).join('\n') + '\n',
  );
  await writeFileAtomic(
    path.join(dir, 'results.csv'),
    stringify([
      [...RESULT_COLUMNS],
      ...outcomes.map((o) => RESULT_COLUMNS.map((c) => (o[c] === undefined ? '' : String(o[c])))),
    ]),
  );
  await writeFileAtomic(
    path.join(dir, 'failed.csv'),
    stringify([[...manifest.columns, '_error_type', '_error_message', '_attempts'], ...failedRows]),
  );
  // After items.jsonl etc.: those are the report's core; the workbook is a convenience on top.
  const workbook =
    manifest.format === 'xlsx' && input.resultsWorkbook !== false
      ? await writeResultsWorkbook({
          dir,
          stagedDir: input.source.dir,
          columns: manifest.columns,
          outcomes,
          sheet: input.sheet,
          createdAt: new Date(endedAt),
        })
      : undefined;
  const summary = {
    ...input.progress,
    source: input.source.originalPath,
    fastest: input.stats.fastest ?? null,
    slowest: input.stats.slowest ?? null,
    recentFailures: input.failures,
    files: {
      items: path.join(dir, 'items.jsonl'),
      results: path.join(dir, 'results.csv'),
      failed: path.join(dir, 'failed.csv'),
      summaryText: path.join(dir, 'summary.txt'),
      ...(workbook ? { workbook } : {}),
    },
  };
  await writeFileAtomic(path.join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  await writeFileAtomic(path.join(dir, 'summary.txt'), formatSummaryText(summary));
}

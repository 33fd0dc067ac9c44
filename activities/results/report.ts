// The final report: joins the result pages into items.jsonl, results.csv and failed.csv (the
// original rows of failed items plus the error, ready to fix and feed back), and writes
// summary.json / summary.txt. Every file is rebuilt from the pages and replaced atomically, so a
// retried report activity produces the same files.
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { readManifest } from '../../src/source/manifest';
import type { StatsState } from '../../workflows/stats';
import type { BatchProgress, FailureRecord, Item, ItemOutcome, StagedSourceRef } from '../../workflows/types';
import { writeFilesAtomically } from './atomic-stream';
import { pageFile, resultsDir } from '../../src/output-dir/layout';
import { writeFileAtomic } from './atomic-file';
import { formatSummaryText } from './summary-text';
import { writeResultsWorkbook, type ResultsWorkbook, type SkippedSheet } from './workbook';
import { isStorageError, storageFailure } from './storage-error';
import { LatencyTally } from './latency';
import { jsonLines, jsonLinesWithText } from '../../src/util/json-lines';
import { FailureType } from '../../workflows/failure-types';
import { cellText as cell, csvLine as csvCells } from './csv-cells';
import { failedRowColumns } from './failed-columns';

export interface WriteReportInput {
  batchId: string;
  outputDir: string;
  source: StagedSourceRef;
  progress: BatchProgress;
  resultsPages: number;
  /** Items from this index on never started (the batch was cancelled or failed first). */
  notStartedFrom: number;
  /**
   * Not read: latency and the fastest/slowest items come from the outcomes the report writes
   * (latency.ts). Optional, since the workflow still sends its running statistics.
   */
  stats?: StatsState;
  failures: FailureRecord[];
  /** XLSX sources: also write results/results.xlsx, the original rows plus their outcomes. Default true. */
  resultsWorkbook?: boolean;
  /** The XLSX source's sheet name, given to the results workbook's sheet. Default `Results`. */
  sheet?: string;
  /** Write CSV cells that look like spreadsheet formulas as they are (default false: neutralised, csv-cells.ts). */
  csvFormulas?: boolean;
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

interface FailedOutcome {
  errorType: string;
  errorMessage: string;
  attempts: number;
}

/** What summary.json says of the results workbook (XLSX sources). */
export interface WorkbookReport {
  /** Why results.xlsx was not written: the other report files are complete all the same. */
  workbookError?: string;
  /** Sheets of the source workbook left out of results.xlsx (too large, a zip bomb, unreadable). */
  workbookSkippedSheets?: SkippedSheet[];
}

/**
 * Writes the report. A storage error (full disk, unwritable output) becomes the OutputStorageError
 * the batch pauses on; a results workbook that cannot be built is named in the summary, never fatal.
 */
export async function writeReport(input: WriteReportInput): Promise<void> {
  try {
    await writeReportFiles(input);
  } catch (err) {
    throw storageFailure(err, 'the report', input.batchId);
  }
}

/**
 * Streams every file of the report: the result pages are read line by line and items.jsonl,
 * results.csv and failed.csv written as they go, so memory stays flat whatever the batch's size
 * (a million items held as one array and joined into one string cost gigabytes). What is kept per
 * item is one byte (seen or not); failed items also keep their error until failed.csv is written.
 */
async function writeReportFiles(input: WriteReportInput): Promise<void> {
  const dir = resultsDir(input.outputDir);
  const manifest = await readManifest(input.source.dir);
  const seen = new Uint8Array(manifest.total);
  const failedByIndex = new Map<number, FailedOutcome>();
  const latency = new LatencyTally();
  const endedAt = input.progress.endedAt ?? new Date().toISOString();
  const files = {
    items: path.join(dir, 'items.jsonl'),
    results: path.join(dir, 'results.csv'),
    failed: path.join(dir, 'failed.csv'),
  };

  const csvLine = (cells: string[]) => csvCells(cells, { formulas: input.csvFormulas });
  const stagedItems = path.join(input.source.dir, 'items.jsonl');

  await writeFilesAtomically(files, async (out) => {
    const add = async (o: ItemOutcome, line?: string) => {
      seen[o.index] = 1;
      await out.items.write(`${line ?? JSON.stringify(o)}\n`);
      await out.results.write(csvLine(RESULT_COLUMNS.map((c) => (o[c] === undefined ? '' : String(o[c])))));
      // Rows to fix and feed back: failed items, and rows rejected as invalid before they ran.
      if (o.status === 'failed' || o.errorType === FailureType.InvalidItem)
        failedByIndex.set(o.index, {
          errorType: o.errorType ?? '',
          errorMessage: o.errorMessage ?? '',
          attempts: o.attempts,
        });
    };
    await out.results.write(csvLine([...RESULT_COLUMNS]));
    for (let page = 0; page < input.resultsPages; page++) {
      const file = pageFile(input.outputDir, page);
      for await (const { record: o, line } of jsonLinesWithText<ItemOutcome>(file)) {
        if (!(o.index >= 0 && o.index < seen.length))
          // Deterministic: the same pages fail the same way on every attempt.
          throw ApplicationFailure.nonRetryable(
            `result page ${file} holds item ${o.key} at index ${o.index}, outside the staged source's ${seen.length} items: the output directory holds another batch's results`,
          );
        // A page rewritten after a retry can repeat an item another page holds: the first one counts.
        if (seen[o.index] === 1) continue;
        latency.add(o);
        await add(o, line);
      }
    }

    // One pass over the staged source: original rows of failed items, and never-started items.
    const failedColumns = await failedRowColumns(
      stagedItems,
      manifest.columns,
      (i) => failedByIndex.has(i),
      failedByIndex.size,
    );
    await out.failed.write(csvLine([...failedColumns, '_error_type', '_error_message', '_attempts']));
    for await (const item of jsonLines<Item>(stagedItems)) {
      const failed = failedByIndex.get(item.index);
      if (failed) {
        await out.failed.write(
          csvLine([
            ...failedColumns.map((c) => cell(item.data[c])),
            failed.errorType,
            failed.errorMessage,
            String(failed.attempts),
          ]),
        );
      }
      if (item.index >= input.notStartedFrom && seen[item.index] !== 1) {
        await add({
          index: item.index,
          key: item.key,
          status: 'cancelled',
          attempts: 0,
          latencyMs: 0,
          startedAt: endedAt,
          endedAt,
          errorType: FailureType.NotStarted,
          errorMessage: `batch ended ${input.progress.status} before this item started`,
        });
      }
    }
  });
  const summary = {
    ...input.progress,
    ...latency.result(),
    source: input.source.originalPath,
    recentFailures: input.failures,
    files: { ...files, summaryText: path.join(dir, 'summary.txt') },
  };
  const writeSummary = async (s: typeof summary & WorkbookReport & { files: { workbook?: string } }) => {
    await writeFileAtomic(path.join(dir, 'summary.json'), JSON.stringify(s, null, 2) + '\n');
    await writeFileAtomic(path.join(dir, 'summary.txt'), formatSummaryText(s));
  };
  // The core files and their summary first: whatever becomes of the workbook (a convenience on top,
  // made from a workbook the batch mostly never read), the report a person needs is on disk.
  await writeSummary(summary);
  if (manifest.format !== 'xlsx' || input.resultsWorkbook === false) return;
  let workbook: ResultsWorkbook | undefined;
  let workbookError: string | undefined;
  try {
    workbook = await writeResultsWorkbook({
      dir,
      stagedDir: input.source.dir,
      total: manifest.total,
      columns: manifest.columns,
      outcomesFile: files.items,
      sheet: input.sheet,
      createdAt: new Date(endedAt),
    });
  } catch (err) {
    if (isStorageError(err)) throw err;
    workbookError = `${FailureType.WorkbookFailed}: ${err instanceof Error ? err.message : String(err)}`;
  }
  await writeSummary({
    ...summary,
    ...(workbookError ? { workbookError } : {}),
    ...(workbook && workbook.skippedSheets.length > 0
      ? { workbookSkippedSheets: workbook.skippedSheets }
      : {}),
    files: { ...summary.files, ...(workbook ? { workbook: workbook.file } : {}) },
  });
}

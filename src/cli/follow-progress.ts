// Follows a batch to its end: polls the progress query, draws it, and returns the final progress.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { messageExcerpt, oneLine } from '../../workflows/excerpt';
import type { BatchProgress } from '../../workflows/types';
import type { BatchClient } from '../client/batch-client';
import { BatchStalledError } from '../client/batch-health';
import type { ProgressView } from './progress-view';

const TERMINAL = new Set(['completed', 'partial_failure', 'failed', 'cancelled']);

export async function followBatch(
  client: BatchClient,
  batchId: string,
  view: ProgressView,
  opts: {
    pollMs?: number;
    signal?: AbortSignal;
    /**
     * A stall (no worker polling, workflow task failing) is shown once it lasted this long: 0 for
     * `watch` (say it at once), a few seconds for `run`, whose own worker is starting.
     */
    stallGraceMs?: number;
  } = {},
): Promise<BatchProgress> {
  let closed = false;
  // The workflow's own end is the authority; polling only draws progress meanwhile.
  const ended = client
    .handle(batchId)
    .result()
    .then(
      () => undefined,
      () => undefined,
    )
    .finally(() => (closed = true));
  let failedSeen = 0;
  const shown = new Set<string>();
  /** New failures: the latest few are shown above the progress line, each once. */
  const showFailures = async (p: BatchProgress) => {
    if (p.failed <= failedSeen) return;
    failedSeen = p.failed;
    const recent = await client.failures(batchId).catch(() => []);
    for (const f of recent.slice(-5)) {
      if (shown.has(f.key)) continue;
      shown.add(f.key);
      view.failure(
        `failed ${oneLine(f.key)} after ${f.attempts} attempt(s): ${f.errorType}: ${messageExcerpt(f.errorMessage, 160)}`,
      );
    }
  };
  let paused = false;
  /** A pause is the operator's business (a budget, a source edited, a blocked item): say why, once. */
  const showPause = (p: BatchProgress) => {
    if (p.status === 'paused' && !paused)
      view.failure(
        `paused: ${p.statusReason ? oneLine(p.statusReason) : 'by an operator'} — items in flight finish; ` +
          `\`durabatch resume ${batchId}\` starts new items again`,
      );
    paused = p.status === 'paused';
  };
  let stallShown: string | undefined;
  let stallSince: number | undefined;
  /** Why nothing moves, said once per cause (and again if it changes), while the wait goes on. */
  const showStall = (err: unknown) => {
    if (!(err instanceof BatchStalledError)) return;
    stallSince ??= Date.now();
    if (Date.now() - stallSince < (opts.stallGraceMs ?? 0) || stallShown === err.message) return;
    stallShown = err.message;
    view.failure(`waiting: ${err.stall.message} — ${err.stall.hint}`);
  };
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (closed) break;
    const p = await client.progress(batchId).catch((err: unknown) => {
      showStall(err);
      return undefined;
    });
    if (p) {
      stallSince = undefined;
      stallShown = undefined;
    }
    if (p) showPause(p);
    if (p) await showFailures(p);
    if (p) view.update(p);
    if (p && TERMINAL.has(p.status) && p.endedAt) break;
    await Promise.race([delay(opts.pollMs ?? 1_000), ended]);
  }
  await ended;
  const final = await client.progress(batchId);
  await showFailures(final);
  view.update(final);
  view.end();
  return final;
}

/** Exit code of a finished batch: 0 only when every item succeeded or was skipped by rule. */
export function exitCodeFor(p: BatchProgress): number {
  return p.status === 'completed' ? 0 : 1;
}

/** What an ended batch's report holds, as `run` and `watch` say it. */
export interface ReportCheck {
  /** summary.json (and so the core files written before it) is on disk. */
  written: boolean;
  /** The summary block's lines about the report. */
  lines: string[];
}

/**
 * Reads the ended batch's summary.json instead of assuming it: "results in …" only when it is there,
 * otherwise why not (the batch's status reason says so when the report failed); and whatever the
 * results workbook lacks (not built, sheets left out).
 */
export async function checkReport(p: BatchProgress): Promise<ReportCheck> {
  const dir = path.join(p.outputDir, 'results');
  const text = await readFile(path.join(dir, 'summary.json'), 'utf8').catch(() => undefined);
  if (text === undefined) {
    return {
      written: false,
      lines: [
        `  the report was NOT written to ${dir}: ${p.statusReason ?? 'see the worker log'}`,
        `  (the worker log, ${path.join(p.outputDir, 'logs', 'worker.jsonl')}, says why)`,
      ],
    };
  }
  const summary = JSON.parse(text) as {
    workbookError?: string;
    workbookSkippedSheets?: { name: string; reason: string }[];
  };
  return {
    written: true,
    lines: [
      `  results in ${dir} (summary.txt, results.csv, failed.csv)`,
      ...(summary.workbookError ? [`  results.xlsx not written: ${summary.workbookError}`] : []),
      ...(summary.workbookSkippedSheets ?? []).map(
        (k) => `  results.xlsx left out sheet "${k.name}": ${k.reason}`,
      ),
    ],
  };
}

/**
 * The exit code of `run` and `watch`: the batch's, or 1 when its report is missing (a batch whose
 * summary was promised but not written is not a success for a script that reads it).
 */
export function exitCodeWithReport(p: BatchProgress, report: ReportCheck): number {
  return report.written ? exitCodeFor(p) : 1;
}

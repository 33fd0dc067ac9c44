// summary.txt: the report a person reads first, often with `cat` on a terminal: every text that came
// from outside (keys, reasons, messages, the source's name) is on one line with its controls escaped.
import { messageExcerpt, oneLine } from '../../workflows/excerpt';
import type { BatchProgress, FailureRecord } from '../../workflows/types';
import { spacedDuration } from '../../src/util/durations';
import type { ReportLatency } from './latency';

export interface SummaryForText extends Omit<BatchProgress, keyof ReportLatency>, ReportLatency {
  source: string;
  recentFailures: FailureRecord[];
  /** Set when a results workbook was written. */
  files?: { workbook?: string };
  /** Why results.xlsx was not written (XLSX sources). */
  workbookError?: string;
  /** Source sheets left out of results.xlsx, and why. */
  workbookSkippedSheets?: { name: string; reason: string }[];
}

export function formatSummaryText(s: SummaryForText): string {
  const ms = s.endedAt ? Date.parse(s.endedAt) - Date.parse(s.startedAt) : 0;
  const lines = [
    `durabatch report — batch ${s.batchId}`,
    ``,
    `status       ${s.status}${s.statusReason ? ` (${oneLine(s.statusReason)})` : ''}`,
    `source       ${oneLine(s.source)}`,
    `items        ${s.total} total: ${s.succeeded} succeeded, ${s.failed} failed, ${s.skipped} skipped, ${s.cancelled} cancelled`,
    `duration     ${spacedDuration(ms)} (${s.startedAt} → ${s.endedAt ?? 'running'})`,
    `throughput   ${s.throughputPerMinute} items/min`,
    `latency      avg ${s.latencyMs.avg} ms, p50 ${s.latencyMs.p50} ms, p95 ${s.latencyMs.p95} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`,
    `error rate   ${(s.errorRate * 100).toFixed(2)}%`,
    `cost         ${s.cost}`,
  ];
  if (s.workbookError) lines.push(`workbook     results.xlsx not written: ${oneLine(s.workbookError)}`);
  for (const k of s.workbookSkippedSheets ?? [])
    lines.push(`workbook     sheet "${oneLine(k.name)}" left out of results.xlsx: ${oneLine(k.reason)}`);
  if (s.fastest) lines.push(`fastest      ${oneLine(s.fastest.key)} (${s.fastest.latencyMs} ms)`);
  if (s.slowest) lines.push(`slowest      ${oneLine(s.slowest.key)} (${s.slowest.latencyMs} ms)`);
  const steps = Object.entries(s.stepLatencyMs ?? {});
  if (steps.length > 0) {
    lines.push('', 'latency by step');
    const width = Math.max(...steps.map(([name]) => name.length));
    for (const [name, l] of steps)
      lines.push(`  ${oneLine(name).padEnd(width)}  p50 ${l.p50} ms, p95 ${l.p95} ms, max ${l.max} ms`);
  }
  const errors = Object.entries(s.errorsByType).sort((a, b) => b[1] - a[1]);
  if (errors.length > 0) {
    lines.push('', 'errors by type');
    for (const [type, n] of errors) lines.push(`  ${oneLine(type).padEnd(24)} ${n}`);
  }
  if (s.recentFailures.length > 0) {
    lines.push('', 'recent failures');
    for (const f of s.recentFailures.slice(-10))
      lines.push(`  ${oneLine(f.key)}: ${oneLine(f.errorType)}: ${messageExcerpt(f.errorMessage, 160)}`);
  }
  lines.push(
    '',
    `files: items.jsonl, results.csv, failed.csv (original rows + error, fix and rerun), summary.json${s.files?.workbook ? ', results.xlsx' : ''}`,
  );
  return lines.join('\n') + '\n';
}

// How a running batch shows in the Temporal Web UI: the "Current Details" markdown and the
// BatchStatus/BatchProgress search attributes. Details are in-memory (served by the built-in metadata
// query) so they may change on every item; search attributes are history events, so they change only
// every 5% or when the status changes.
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { batchProgressKey, batchStatusKey } from './search-attributes';
import type { BatchProgress } from './types';

const SEARCH_ATTRIBUTE_STEP_PERCENT = 5;

export class BatchPresenter {
  private lastPercent = -1;
  private lastStatus = '';

  constructor(private readonly progress: () => BatchProgress) {}

  get reportedStatus(): string {
    return this.lastStatus;
  }

  /** Refreshes Current Details; cheap enough (about 20 µs) to call on every change. */
  refreshDetails(): BatchProgress {
    const p = this.progress();
    setCurrentDetails(progressMarkdown(p));
    return p;
  }

  /** Refreshes Current Details and, when due, the search attributes. */
  refresh(): void {
    const p = this.refreshDetails();
    const percent = Math.floor(p.percent);
    const due =
      p.status !== this.lastStatus ||
      percent - this.lastPercent >= SEARCH_ATTRIBUTE_STEP_PERCENT ||
      (percent === 100 && this.lastPercent < 100);
    if (!due) return;
    this.lastPercent = percent;
    this.lastStatus = p.status;
    upsertSearchAttributes([
      { key: batchStatusKey, value: p.status },
      { key: batchProgressKey, value: percent },
    ]);
  }
}

const n = (v: number) => String(v);

/** A short markdown summary for the Web UI's "Current Details" panel. */
export function progressMarkdown(p: BatchProgress): string {
  const lines = [
    `**${p.status}** · ${p.percent}% of ${n(p.total)} items` +
      (p.status === 'running' && p.etaSeconds !== null ? ` · ETA ${formatSeconds(p.etaSeconds)}` : ''),
    '',
    // One line, not a table: the Web UI (2.54) draws markdown tables without cell padding.
    `succeeded **${n(p.succeeded)}** · failed **${n(p.failed)}** · skipped **${n(p.skipped)}** · ` +
      `cancelled **${n(p.cancelled)}** · running **${n(p.running)}** · pending **${n(p.pending)}**`,
    '',
    `throughput ${p.throughputPerMinute}/min · latency p50 ${p.latencyMs.p50} ms, p95 ${p.latencyMs.p95} ms · ` +
      `concurrency ${p.concurrency}` +
      (p.rate !== null ? ` · rate ${p.rate}/s` : '') +
      (p.budget !== null ? ` · cost ${p.cost} of budget ${p.budget}` : ''),
  ];
  if (p.statusReason) lines.push('', `reason: ${p.statusReason}`);
  const errors = Object.entries(p.errorsByType ?? {});
  if (errors.length > 0) {
    lines.push('', 'errors: ' + errors.map(([type, count]) => `${type} ×${count}`).join(', '));
  }
  lines.push('', `results: \`${p.outputDir}\``);
  return lines.join('\n');
}

function formatSeconds(s: number): string {
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

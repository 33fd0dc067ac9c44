// The status object of a batch (`status --json`, the `progress` query): counts that always add up to
// `total`, throughput, latency, ETA and cost, computed from the batch's state.
import type { BatchState } from './batch-state';
import { workflowNow } from './clock';
import { latencySummary, stepLatencySummary } from './stats';
import type { BatchProgress } from './types';

/** Page children named in the status while they have not acknowledged a pause. */
const PAUSE_UNACKNOWLEDGED_SHOWN = 20;

/**
 * `running`: items running now, as the lane counts them (workflows/lanes/); `pauseUnacknowledged`:
 * while paused, the children that may still start items (Lane.pauseUnacknowledged).
 */
export function progressOf(
  state: BatchState,
  running: number,
  outputDir: string,
  webUiUrl: string | null,
  pauseUnacknowledged: readonly string[] = [],
): BatchProgress {
  const c = state.counts;
  const finished = state.finishedCount;
  const pending = Math.max(0, state.total - finished - running);
  const end = state.endedAt ? Date.parse(state.endedAt) : workflowNow();
  const elapsedMin = Math.max((end - Date.parse(state.startedAt)) / 60_000, 1 / 600);
  const throughputPerMinute = finished === 0 ? 0 : Math.round((finished / elapsedMin) * 10) / 10;
  const remaining = pending + running;
  const judged = c.succeeded + c.failed;
  const status = state.currentStatus();
  return {
    batchId: state.batchId,
    status,
    total: state.total,
    succeeded: c.succeeded,
    failed: c.failed,
    skipped: c.skipped,
    cancelled: c.cancelled,
    running,
    pending,
    percent: state.total === 0 ? 100 : Math.floor((finished / state.total) * 1000) / 10,
    throughputPerMinute,
    latencyMs: latencySummary(state.stats),
    stepLatencyMs: stepLatencySummary(state.stats),
    errorRate: judged === 0 ? 0 : Math.round((c.failed / judged) * 10_000) / 10_000,
    // A paused batch has no ETA: nothing new starts until someone resumes it.
    etaSeconds:
      remaining === 0
        ? 0
        : throughputPerMinute > 0 && status !== 'paused'
          ? Math.round((remaining / throughputPerMinute) * 60)
          : null,
    cost: Math.round(state.stats.cost * 1e6) / 1e6,
    budget: state.limits.budget ?? null,
    startedAt: state.startedAt,
    endedAt: state.endedAt ?? null,
    outputDir,
    webUiUrl,
    concurrency: state.limits.concurrency,
    rate: state.limits.rate ?? null,
    runNumber: state.runNumber,
    errorsByType: { ...state.stats.errorsByType },
    statusReason: state.storageFailure ?? state.ending?.reason ?? state.pauseReason,
    ...(status === 'paused'
      ? {
          pauseAcknowledged: pauseUnacknowledged.length === 0,
          ...(pauseUnacknowledged.length > 0
            ? { pauseUnacknowledgedBy: pauseUnacknowledged.slice(0, PAUSE_UNACKNOWLEDGED_SHOWN) }
            : {}),
        }
      : {}),
  };
}

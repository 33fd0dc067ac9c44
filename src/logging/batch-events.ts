// The two lines that frame a batch in its logs/worker.jsonl: `batch.start` (written by the client
// that starts it) and `batch.end` (by the worker that writes its report), so
// `jq 'select(.event)'` tells when a batch ran and how it ended without reading its results.
import type { BatchProgress } from '../../workflows/types';

export const BATCH_START = 'batch.start';
export const BATCH_END = 'batch.end';

export function batchStartMessage(total: number, processor: string): string {
  return `batch started: ${total} items → ${processor}`;
}

export function batchEndFields(p: BatchProgress): Record<string, unknown> {
  const started = Date.parse(p.startedAt);
  const ended = p.endedAt ? Date.parse(p.endedAt) : NaN;
  return {
    event: BATCH_END,
    batchId: p.batchId,
    status: p.status,
    total: p.total,
    succeeded: p.succeeded,
    failed: p.failed,
    skipped: p.skipped,
    cancelled: p.cancelled,
    cost: p.cost,
    errorsByType: p.errorsByType,
    startedAt: p.startedAt,
    endedAt: p.endedAt,
    durationMs: Number.isFinite(ended - started) ? ended - started : undefined,
    ...(p.statusReason ? { reason: p.statusReason } : {}),
  };
}

export function batchEndMessage(p: BatchProgress): string {
  return (
    `batch ended ${p.status}: ${p.total} items, ${p.succeeded} succeeded, ${p.failed} failed, ` +
    `${p.skipped} skipped, ${p.cancelled} cancelled`
  );
}

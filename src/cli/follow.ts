// Follows a batch to its end: polls the progress query, draws it, and returns the final progress.
import { setTimeout as delay } from 'node:timers/promises';
import type { BatchProgress } from '../../workflows/types';
import type { BatchClient } from '../client/batch-client';
import type { ProgressView } from './progress-view';

const TERMINAL = new Set(['completed', 'partial_failure', 'failed', 'cancelled']);

export async function followBatch(
  client: BatchClient,
  batchId: string,
  view: ProgressView,
  opts: { pollMs?: number; signal?: AbortSignal } = {},
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
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (closed) break;
    const p = await client.progress(batchId).catch(() => undefined);
    if (p) view.update(p);
    if (p && TERMINAL.has(p.status) && p.endedAt) break;
    await Promise.race([delay(opts.pollMs ?? 1_000), ended]);
  }
  await ended;
  const final = await client.progress(batchId);
  view.update(final);
  view.end();
  return final;
}

/** Exit code of a finished batch: 0 only when every item succeeded or was skipped by rule. */
export function exitCodeFor(p: BatchProgress): number {
  return p.status === 'completed' ? 0 : 1;
}

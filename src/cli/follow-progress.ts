// Follows a batch to its end: polls the progress query, draws it, and returns the final progress.
import { setTimeout as delay } from 'node:timers/promises';
import { messageExcerpt, oneLine } from '../../workflows/excerpt';
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
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (closed) break;
    const p = await client.progress(batchId).catch(() => undefined);
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

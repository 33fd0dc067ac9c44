// What the invariant checker reads: result files, the batch's own result and Temporal's record of
// its item workflows (its input: src/client/batch-records.ts); plus the count helpers the checks share.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { parse as parseCsv } from 'csv-parse/sync';
import type { batchWorkflow } from '../../workflows/batch';
import type { BatchProgress, ItemStatus } from '../../workflows/types';

export type Counts = Record<ItemStatus, number>;

export const STATUSES: ItemStatus[] = ['succeeded', 'failed', 'skipped', 'cancelled'];
export const tally = (statuses: string[]): Counts => {
  const c: Counts = { succeeded: 0, failed: 0, skipped: 0, cancelled: 0 };
  for (const s of statuses) if (s in c) c[s as ItemStatus] += 1;
  return c;
};
export const countsOf = (p: Partial<Counts>): Counts => ({
  succeeded: p.succeeded ?? 0,
  failed: p.failed ?? 0,
  skipped: p.skipped ?? 0,
  cancelled: p.cancelled ?? 0,
});
export const same = (a: Counts, b: Counts) => STATUSES.every((s) => a[s] === b[s]);
export const fmt = (c: Counts) => STATUSES.map((s) => `${s} ${c[s]}`).join(', ');
export const sample = (keys: string[]) =>
  keys.slice(0, 10).join(', ') + (keys.length > 10 ? ` … (${keys.length})` : '');

/** The final progress the workflow itself returned (completed) or attached to its failure (failed). */
export async function workflowResult(client: Client, batchId: string): Promise<BatchProgress | undefined> {
  try {
    return await client.workflow.getHandle<typeof batchWorkflow>(batchId).result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const details = (err.cause as { details?: unknown[] } | undefined)?.details;
      return details?.[0] as BatchProgress | undefined;
    }
    return undefined;
  }
}

/** Item workflows by Temporal status, retried briefly because visibility trails the history. */
export async function childCounts(
  client: Client,
  batchId: string,
  expect: Counts,
  workflowType: 'itemWorkflow' | 'pageWorkflow' = 'itemWorkflow',
): Promise<Record<string, number>> {
  const query = `BatchId = "${batchId}" AND WorkflowType = "${workflowType}" GROUP BY ExecutionStatus`;
  let counts: Record<string, number> = {};
  for (let i = 0; i < 10; i++) {
    counts = { Running: 0, Completed: 0, Failed: 0, Canceled: 0, Terminated: 0, TimedOut: 0 };
    for (const g of (await client.workflow.count(query)).groups) counts[String(g.groupValues[0])] = g.count;
    if (counts.Running === 0 && (workflowType === 'pageWorkflow' || counts.Completed === expect.succeeded))
      break;
    await sleep(500);
  }
  return counts;
}

/** Rows of a CSV file with a header, as objects; none if the file does not exist. */
export async function readCsv(file: string): Promise<Record<string, string>[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const rows: Record<string, string>[] = parseCsv(text, { columns: true });
  return rows;
}

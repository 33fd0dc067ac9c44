// Totals across the batches started in a window (GET /v1/analytics): how many batches ended how,
// their items' outcomes, cost, throughput and errors by type. Ended batches count from their
// results/summary.json (the report they wrote), running ones from their live status; a batch whose
// figures cannot be read is counted as unreadable, never failing the whole answer.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { storagePathProblem } from '../home/storage-paths';
import type { Client } from '@temporalio/client';
import type { BatchProgress } from '../../workflows/types';
import { listBatches, type BatchListEntry } from '../client/listing';

/** Batches one answer looks at, at most: beyond, `truncated` says the totals are partial. */
export const MAX_ANALYTICS_BATCHES = 5_000;
/** Batches read at once (summary files and live queries). */
const READ_CONCURRENCY = 8;
const PAGE_SIZE = 500;
const UNREADABLE_IDS_SHOWN = 20;

export interface AnalyticsFilters {
  since: Date;
  source?: string;
  label?: string;
}

export interface Analytics {
  since: string;
  until: string;
  batches: {
    total: number;
    byStatus: Record<string, number>;
    unreadable: number;
    unreadableIds: string[];
  };
  items: {
    total: number;
    succeeded: number;
    failed: number;
    skipped: number;
    cancelled: number;
    running: number;
    pending: number;
  };
  cost: number;
  busySeconds: number;
  itemsPerSecond: number;
  errorsByType: Record<string, number>;
  truncated: boolean;
}

type Figures = Pick<
  BatchProgress,
  | 'status'
  | 'total'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'cancelled'
  | 'running'
  | 'pending'
  | 'cost'
  | 'startedAt'
  | 'endedAt'
  | 'errorsByType'
>;

/** A summary.json, if it is one (a half-copied or foreign file counts as unreadable). */
async function readSummary(outputDir: string | null, roots: readonly string[]): Promise<Figures | undefined> {
  // A batch whose output lies outside the service's storage roots is not read (storage-roots.ts).
  if (!outputDir || (await storagePathProblem(outputDir, roots)) !== undefined) return undefined;
  const text = await readFile(path.join(outputDir, 'results', 'summary.json'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  try {
    const s = JSON.parse(text) as Figures;
    return typeof s.total === 'number' && typeof s.succeeded === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `fn` on every element, at most `limit` at a time. */
async function eachBounded<T>(all: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < all.length) await fn(all[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, all.length) }, lane));
}

/** Seconds covered by the union of the intervals (overlapping batches count once). */
export function unionSeconds(intervals: [number, number][]): number {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let start = -Infinity;
  let end = -Infinity;
  for (const [a, b] of sorted) {
    if (a > end) {
      if (end > start) total += end - start;
      start = a;
      end = b;
    } else end = Math.max(end, b);
  }
  if (end > start) total += end - start;
  return total / 1000;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * The totals. `live(batchId)` is a running batch's status (the service's shared status cache).
 */
export async function analytics(
  client: Client,
  namespace: string,
  filters: AnalyticsFilters,
  live: (batchId: string) => Promise<BatchProgress>,
  roots: readonly string[],
): Promise<Analytics> {
  const now = new Date();
  const needle = filters.source?.toLowerCase();
  const batches: BatchListEntry[] = [];
  let token: string | undefined;
  let truncated = false;
  do {
    const page = await listBatches(client, namespace, {
      since: filters.since,
      limit: PAGE_SIZE,
      pageToken: token,
    });
    for (const b of page.batches) {
      if (needle && !(b.source?.toLowerCase().includes(needle) ?? false)) continue;
      if (filters.label !== undefined && b.label !== filters.label) continue;
      batches.push(b);
    }
    token = page.nextPageToken ?? undefined;
    if (batches.length >= MAX_ANALYTICS_BATCHES) {
      truncated = token !== undefined || batches.length > MAX_ANALYTICS_BATCHES;
      batches.length = Math.min(batches.length, MAX_ANALYTICS_BATCHES);
      break;
    }
  } while (token);

  const out: Analytics = {
    since: filters.since.toISOString(),
    until: now.toISOString(),
    batches: { total: batches.length, byStatus: {}, unreadable: 0, unreadableIds: [] },
    items: { total: 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0, running: 0, pending: 0 },
    cost: 0,
    busySeconds: 0,
    itemsPerSecond: 0,
    errorsByType: {},
    truncated,
  };
  const intervals: [number, number][] = [];
  await eachBounded(batches, READ_CONCURRENCY, async (b) => {
    const figures =
      b.workflowStatus === 'RUNNING'
        ? await live(b.batchId).catch(() => undefined)
        : await readSummary(b.outputDir, roots);
    const status = figures?.status ?? b.status;
    out.batches.byStatus[status] = (out.batches.byStatus[status] ?? 0) + 1;
    if (!figures) {
      out.batches.unreadable += 1;
      if (out.batches.unreadableIds.length < UNREADABLE_IDS_SHOWN) out.batches.unreadableIds.push(b.batchId);
      return;
    }
    const items = out.items;
    items.total += figures.total;
    items.succeeded += figures.succeeded;
    items.failed += figures.failed;
    items.skipped += figures.skipped;
    items.cancelled += figures.cancelled;
    items.running += figures.running;
    items.pending += figures.pending;
    out.cost += figures.cost ?? 0;
    for (const [type, n] of Object.entries(figures.errorsByType ?? {}))
      out.errorsByType[type] = (out.errorsByType[type] ?? 0) + n;
    const started = Date.parse(figures.startedAt);
    const ended = figures.endedAt ? Date.parse(figures.endedAt) : now.getTime();
    if (Number.isFinite(started) && Number.isFinite(ended)) intervals.push([started, ended]);
  });
  out.batches.unreadableIds.sort();
  out.cost = round(out.cost, 6);
  out.busySeconds = round(unionSeconds(intervals), 3);
  const processed = out.items.succeeded + out.items.failed;
  out.itemsPerSecond = out.busySeconds > 0 ? round(processed / out.busySeconds, 3) : 0;
  return out;
}

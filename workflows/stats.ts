// Batch statistics with bounded state: a fixed-bucket latency histogram (no per-item arrays), error
// counts by type (capped), extremes and cost. Pure functions, so the parent can carry the state
// across continue-as-new and the report can reuse the same arithmetic.
import type { ItemOutcome, LatencySummary } from './types';

/** Bucket upper bounds in ms: 1 ms × 1.2^i, up to about 2 hours (~100 buckets, ±10% precision). */
const BUCKET_BOUNDS: number[] = (() => {
  const bounds: number[] = [];
  for (let b = 1; b < 7_200_000; b *= 1.2) bounds.push(Math.ceil(b));
  bounds.push(Number.MAX_SAFE_INTEGER);
  return bounds;
})();

const MAX_ERROR_TYPES = 50;

export interface ItemExtreme {
  key: string;
  latencyMs: number;
}

export interface Histogram {
  finished: number;
  latencySumMs: number;
  /** Sparse histogram: bucket index → count (sparse keeps carried state small). */
  buckets: Record<string, number>;
  maxMs?: number;
}

export interface StatsState extends Histogram {
  /** Per pipeline step (bounded by the number of steps). */
  steps?: Record<string, Histogram>;
  fastest?: ItemExtreme;
  slowest?: ItemExtreme;
  errorsByType: Record<string, number>;
  cost: number;
}

export function emptyStats(): StatsState {
  return { finished: 0, latencySumMs: 0, buckets: {}, errorsByType: {}, cost: 0 };
}

function bucketOf(ms: number): number {
  let lo = 0;
  let hi = BUCKET_BOUNDS.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= BUCKET_BOUNDS[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function addLatency(h: Histogram, ms: number): void {
  h.finished += 1;
  h.latencySumMs += ms;
  h.maxMs = Math.max(h.maxMs ?? 0, ms);
  const b = String(bucketOf(ms));
  h.buckets[b] = (h.buckets[b] ?? 0) + 1;
}

/** Records one terminal outcome. Skipped items carry no latency and are not timed. */
export function recordOutcome(stats: StatsState, outcome: ItemOutcome): void {
  if (outcome.cost !== undefined && Number.isFinite(outcome.cost)) stats.cost += outcome.cost;
  if (outcome.status === 'failed') {
    const type = outcome.errorType ?? 'Error';
    if (type in stats.errorsByType || Object.keys(stats.errorsByType).length < MAX_ERROR_TYPES) {
      stats.errorsByType[type] = (stats.errorsByType[type] ?? 0) + 1;
    } else {
      stats.errorsByType.Other = (stats.errorsByType.Other ?? 0) + 1;
    }
  }
  if (outcome.status === 'skipped') return;
  const ms = Math.max(0, Math.round(outcome.latencyMs));
  addLatency(stats, ms);
  for (const step of outcome.steps ?? []) {
    stats.steps ??= {};
    addLatency(
      (stats.steps[step.name] ??= { finished: 0, latencySumMs: 0, buckets: {} }),
      Math.max(0, Math.round(step.latencyMs)),
    );
  }
  if (outcome.status === 'succeeded') {
    if (!stats.fastest || ms < stats.fastest.latencyMs) stats.fastest = { key: outcome.key, latencyMs: ms };
    if (!stats.slowest || ms > stats.slowest.latencyMs) stats.slowest = { key: outcome.key, latencyMs: ms };
  }
}

/**
 * Percentile from the histogram: the upper bound of the bucket holding the rank (never under-reports),
 * but never above the slowest item seen: a bucket's bound can exceed every value in it, and a p99
 * larger than the max is a report that does not add up.
 */
export function percentile(stats: Histogram, p: number): number {
  const bound = bucketPercentile(stats, p);
  return stats.maxMs === undefined ? bound : Math.min(bound, stats.maxMs);
}

function bucketPercentile(stats: Histogram, p: number): number {
  if (stats.finished === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * stats.finished));
  let seen = 0;
  const indices = Object.keys(stats.buckets)
    .map(Number)
    .sort((a, b) => a - b);
  for (const i of indices) {
    seen += stats.buckets[String(i)] ?? 0;
    if (seen >= rank) {
      const bound = BUCKET_BOUNDS[i]!;
      // The last bucket is open-ended; report the slowest seen instead of a sentinel.
      return bound === Number.MAX_SAFE_INTEGER ? (stats.maxMs ?? 0) : bound;
    }
  }
  return 0;
}

export function latencySummary(stats: Histogram): LatencySummary {
  return {
    avg: stats.finished === 0 ? 0 : Math.round(stats.latencySumMs / stats.finished),
    p50: percentile(stats, 50),
    p95: percentile(stats, 95),
    p99: percentile(stats, 99),
  };
}

/** Latency per pipeline step, for progress and reports. */
export function stepLatencySummary(stats: StatsState): Record<string, LatencySummary> | undefined {
  if (!stats.steps) return undefined;
  return Object.fromEntries(Object.entries(stats.steps).map(([name, h]) => [name, latencySummary(h)]));
}

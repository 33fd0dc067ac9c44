// Latency for the summary files, computed from the very records written to items.jsonl (so the
// summary describes the file beside it) with the workflow's own bounded histogram: the same
// arithmetic as `status`, a fixed number of buckets per step whatever the number of items.
import {
  emptyStats,
  latencySummary,
  recordOutcome,
  type Histogram,
  type ItemExtreme,
} from '../../workflows/stats';
import type { ItemOutcome, LatencySummary } from '../../workflows/types';

/** A latency summary with the slowest value seen (exact, not a bucket bound). */
export interface LatencyWithMax extends LatencySummary {
  max: number;
}

export interface ReportLatency {
  latencyMs: LatencyWithMax;
  /** Per pipeline step, in the order the steps ran; undefined for a single processor. */
  stepLatencyMs: Record<string, LatencyWithMax> | undefined;
  /** The fastest and slowest succeeded items (whole item, all steps). */
  fastest: ItemExtreme | null;
  slowest: ItemExtreme | null;
}

function withMax(h: Histogram): LatencyWithMax {
  return { ...latencySummary(h), max: h.maxMs ?? 0 };
}

export class LatencyTally {
  private readonly stats = emptyStats();

  /** An outcome an item run produced (never-started items have no latency to count). */
  add(outcome: ItemOutcome): void {
    recordOutcome(this.stats, outcome);
  }

  result(): ReportLatency {
    const steps = this.stats.steps;
    return {
      latencyMs: withMax(this.stats),
      // Always set, even undefined: it replaces the progress's own (which has no max) in the summary.
      stepLatencyMs: steps
        ? Object.fromEntries(Object.entries(steps).map(([name, h]) => [name, withMax(h)]))
        : undefined,
      fastest: this.stats.fastest ?? null,
      slowest: this.stats.slowest ?? null,
    };
  }
}

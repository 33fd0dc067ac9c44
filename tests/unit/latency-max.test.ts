// p99 (and every percentile) never exceeds the slowest item: the histogram's bucket bounds are up to
// 20% above the values in them, and a summary reading "p99 1190 ms, max 1001 ms" does not add up.
import { describe, expect, it } from 'vitest';
import { LatencyTally } from '../../activities/results/latency';
import { emptyStats, latencySummary, percentile, recordOutcome } from '../../workflows/stats';
import type { ItemOutcome } from '../../workflows/types';

const outcome = (key: string, latencyMs: number, steps?: [string, number][]): ItemOutcome => ({
  index: 0,
  key,
  status: 'succeeded',
  attempts: 1,
  latencyMs,
  startedAt: '',
  endedAt: '',
  steps: steps?.map(([name, ms]) => ({ name, attempts: 1, latencyMs: ms })),
});

describe('percentiles never above the max', () => {
  it.each([1001, 7, 123_457, 3_600_001])('one item of %i ms: every percentile is that value', (ms) => {
    const stats = emptyStats();
    recordOutcome(stats, outcome('a', ms));
    expect(latencySummary(stats)).toEqual({ avg: ms, p50: ms, p95: ms, p99: ms });
  });

  it('a distribution whose slowest item sits low in its bucket: p99 = max, lower percentiles keep their bound', () => {
    const stats = emptyStats();
    for (let i = 0; i < 99; i++) recordOutcome(stats, outcome(`k${i}`, 100));
    recordOutcome(stats, outcome('slow', 1001));
    const s = latencySummary(stats);
    expect(stats.maxMs).toBe(1001);
    expect(s.p99).toBeLessThanOrEqual(1001);
    expect(s.p50).toBeGreaterThanOrEqual(100);
    expect(s.p50).toBeLessThanOrEqual(120);
    expect(percentile(stats, 100)).toBe(1001);
  });

  it('the report: overall and per step, p50 ≤ p95 ≤ p99 ≤ max', () => {
    const tally = new LatencyTally();
    for (let i = 0; i < 500; i++)
      tally.add(
        outcome(`k${i}`, 1001 + (i % 13), [
          ['register', 501 + (i % 7)],
          ['submit', 500 + (i % 13)],
        ]),
      );
    const r = tally.result();
    for (const l of [r.latencyMs, ...Object.values(r.stepLatencyMs ?? {})]) {
      expect(l.p50).toBeLessThanOrEqual(l.p95);
      expect(l.p95).toBeLessThanOrEqual(l.p99);
      expect(l.p99).toBeLessThanOrEqual(l.max);
    }
    expect(r.latencyMs.max).toBe(1013);
    expect(r.stepLatencyMs?.register?.max).toBe(507);
  });
});

import { describe, expect, it } from 'vitest';
import { emptyStats, latencySummary, percentile, recordOutcome } from '../../workflows/stats';
import type { ItemOutcome } from '../../workflows/types';

const outcome = (
  key: string,
  latencyMs: number,
  status: ItemOutcome['status'] = 'succeeded',
  errorType?: string,
): ItemOutcome => ({
  index: 0,
  key,
  status,
  attempts: 1,
  latencyMs,
  startedAt: '',
  endedAt: '',
  errorType,
});

describe('batch statistics', () => {
  it('computes percentiles from fixed buckets within 20% and never below the true value', () => {
    const stats = emptyStats();
    for (let i = 1; i <= 1000; i++) recordOutcome(stats, outcome(`k${i}`, i));
    expect(stats.finished).toBe(1000);
    expect(latencySummary(stats).avg).toBe(501);
    for (const [p, truth] of [
      [50, 500],
      [95, 950],
      [99, 990],
    ] as const) {
      const v = percentile(stats, p);
      expect(v).toBeGreaterThanOrEqual(truth);
      expect(v).toBeLessThanOrEqual(truth * 1.2);
    }
    expect(stats.fastest).toEqual({ key: 'k1', latencyMs: 1 });
    expect(stats.slowest).toEqual({ key: 'k1000', latencyMs: 1000 });
  });

  it('keeps its state bounded whatever the number of items', () => {
    const stats = emptyStats();
    for (let i = 0; i < 100_000; i++)
      recordOutcome(
        stats,
        outcome(`k${i}`, (i * 7919) % 600_000, i % 10 === 0 ? 'failed' : 'succeeded', `E${i % 80}`),
      );
    expect(Object.keys(stats.buckets).length).toBeLessThanOrEqual(100);
    expect(Object.keys(stats.errorsByType).length).toBeLessThanOrEqual(51);
    expect(JSON.stringify(stats).length).toBeLessThan(4_000);
  });

  it('counts errors by type and does not time skipped items', () => {
    const stats = emptyStats();
    recordOutcome(stats, outcome('a', 10, 'failed', 'PermanentTargetError'));
    recordOutcome(stats, outcome('b', 20, 'failed', 'PermanentTargetError'));
    recordOutcome(stats, outcome('c', 0, 'skipped'));
    expect(stats.errorsByType).toEqual({ PermanentTargetError: 2 });
    expect(stats.finished).toBe(2);
  });
});

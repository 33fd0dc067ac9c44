// The batch's status object (workflows/batch-progress.ts) and its Current Details text
// (workflows/batch-presenter.ts) without a server: counts that add up to the total, percent,
// throughput, ETA, cost and the reason, and the markdown the Web UI shows.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { progressOf } from '../../workflows/batch-progress';
import { progressMarkdown } from '../../workflows/batch-presenter';
import type { BatchProgress } from '../../workflows/types';
import {
  countsOf,
  inFlightItems,
  inFlightPage,
  itemLaneOf,
  itemLaneWith,
  newState,
  outcome,
  pageLaneWith,
} from '../helpers/engine-state';

/** 20 items: 8 succeeded (cost 0.5 each), 2 failed, 1 skipped, 3 in flight, 6 pending. */
function midBatch(startedAt: string) {
  const s = newState(20, { startedAt, limits: { concurrency: 3, budget: 10, rate: 2 } });
  const lane = itemLaneOf(s, [...inFlightItems(0, 9), ...inFlightItems(11, 13)]);
  for (let i = 0; i < 8; i++) lane.takeItemReport(outcome(i, 'succeeded', { cost: 0.5 }), {});
  lane.takeItemReport(outcome(8, 'failed', { errorType: 'PermanentTargetError' }), {});
  lane.takeItemReport(outcome(9, 'failed', { errorType: 'Timeout' }), {});
  s.record(outcome(10, 'skipped', { errorType: 'InvalidItem' }));
  return { s, lane };
}

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

describe('progress of a batch', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('running: counts add up to the total; throughput and ETA come from the time since the start', () => {
    const { s, lane } = midBatch(minutesAgo(10));
    const p = progressOf(s, lane.running, '/out', 'http://ui/b');
    expect(countsOf(p)).toEqual({
      succeeded: 8,
      failed: 2,
      skipped: 1,
      cancelled: 0,
      running: 3,
      pending: 6,
    });
    expect(p).toMatchObject({
      batchId: 'b',
      status: 'running',
      total: 20,
      percent: 55,
      // 11 finished in 10 minutes; 9 left at 1.1 a minute
      throughputPerMinute: 1.1,
      etaSeconds: 491,
      errorRate: 0.2,
      cost: 4,
      budget: 10,
      rate: 2,
      concurrency: 3,
      runNumber: 1,
      endedAt: null,
      outputDir: '/out',
      webUiUrl: 'http://ui/b',
      errorsByType: { PermanentTargetError: 1, Timeout: 1 },
    });
    expect(p.latencyMs.avg).toBe(100);
    expect(p.statusReason).toBeUndefined();
  });

  it('paused: no ETA (nothing starts until a resume), and the reason is shown', () => {
    const { s, lane } = midBatch(minutesAgo(10));
    s.pause({ reason: 'paused by operator', sender: { kind: 'signal', name: 'pause' } });
    expect(progressOf(s, lane.running, '/out', null)).toMatchObject({
      status: 'paused',
      etaSeconds: null,
      statusReason: 'paused by operator',
    });
  });

  it('nothing finished yet: no throughput, no ETA', () => {
    const s = newState(5, { startedAt: minutesAgo(1) });
    const lane = itemLaneWith(s, 0, 2);
    const p = progressOf(s, lane.running, '/out', null);
    expect(countsOf(p)).toEqual({
      succeeded: 0,
      failed: 0,
      skipped: 0,
      cancelled: 0,
      running: 3,
      pending: 2,
    });
    expect(p).toMatchObject({ percent: 0, throughputPerMinute: 0, etaSeconds: null, errorRate: 0 });
  });

  it('ended: measured up to its end, ETA 0, the ending reason over the pause reason', () => {
    const { s, lane } = midBatch('2024-05-01T10:00:00.000Z');
    s.pause({ reason: 'budget 10 reached', by: 'budget' });
    s.beginEnding('cancelling', 'cancellation requested');
    for (let i = 11; i <= 13; i++)
      lane.takeItemReport(outcome(i, 'cancelled', { errorType: 'Cancelled' }), {});
    s.cancelNotStarted();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2024-05-01T10:05:00.000Z'));
    expect(s.end()).toBe('cancelled');
    const p = progressOf(s, lane.running, '/out', null);
    expect(countsOf(p)).toEqual({
      succeeded: 8,
      failed: 2,
      skipped: 1,
      cancelled: 9,
      running: 0,
      pending: 0,
    });
    expect(p).toMatchObject({
      status: 'cancelled',
      percent: 100,
      throughputPerMinute: 4,
      etaSeconds: 0,
      endedAt: '2024-05-01T10:05:00.000Z',
      statusReason: 'cancellation requested',
    });
  });

  it('counts page items: running are those a page may run, pending the rest', () => {
    const s = newState(30, { startedAt: minutesAgo(1), limits: { concurrency: 4 } });
    const page = inFlightPage(0, 10, 4);
    const lane = pageLaneWith(s, [page, inFlightPage(10, 10, 0)]);
    lane.applyReport(page.childId, [outcome(0), outcome(1)], 8, undefined, { running: 4 });
    const p = progressOf(s, lane.running, '/out', null);
    expect(countsOf(p)).toEqual({
      succeeded: 2,
      failed: 0,
      skipped: 0,
      cancelled: 0,
      running: 4,
      pending: 24,
    });
    expect(p.percent).toBe(6.6);
  });

  it('an empty batch is 100% done', () => {
    expect(progressOf(newState(0), 0, '/out', null)).toMatchObject({
      percent: 100,
      pending: 0,
      etaSeconds: 0,
    });
  });
});

describe('Current Details text', () => {
  const base: BatchProgress = {
    batchId: 'b',
    status: 'running',
    total: 20,
    succeeded: 8,
    failed: 2,
    skipped: 1,
    cancelled: 0,
    running: 3,
    pending: 6,
    percent: 55,
    throughputPerMinute: 1.1,
    latencyMs: { avg: 100, p50: 100, p95: 120, p99: 120 },
    errorRate: 0.2,
    etaSeconds: 491,
    cost: 4,
    budget: null,
    startedAt: '2024-05-01T10:00:00.000Z',
    endedAt: null,
    outputDir: '/out/b',
    webUiUrl: null,
    concurrency: 3,
    rate: null,
    runNumber: 1,
    errorsByType: {},
  };

  it('says status, counts, speed and where the results are, one line each', () => {
    expect(progressMarkdown(base)).toBe(
      [
        '**running** · 55% of 20 items · ETA 8m',
        '',
        'succeeded **8** · failed **2** · skipped **1** · cancelled **0** · running **3** · pending **6**',
        '',
        'throughput 1.1/min · latency p50 100 ms, p95 120 ms · concurrency 3',
        '',
        'results: `/out/b`',
      ].join('\n'),
    );
  });

  it('adds the rate, the budget, the reason and the errors by type when there are any', () => {
    const text = progressMarkdown({
      ...base,
      status: 'paused',
      rate: 2,
      budget: 10,
      statusReason: 'budget 10 reached',
      errorsByType: { PermanentTargetError: 1, Timeout: 1 },
    });
    expect(text.split('\n')).toEqual([
      '**paused** · 55% of 20 items',
      '',
      'succeeded **8** · failed **2** · skipped **1** · cancelled **0** · running **3** · pending **6**',
      '',
      'throughput 1.1/min · latency p50 100 ms, p95 120 ms · concurrency 3 · rate 2/s · cost 4 of budget 10',
      '',
      'reason: budget 10 reached',
      '',
      'errors: PermanentTargetError ×1, Timeout ×1',
      '',
      'results: `/out/b`',
    ]);
  });

  it.each([
    [45, '45s'],
    [89, '89s'],
    [90, '2m'],
    [5399, '90m'],
    [5400, '1h30m'],
    [7500, '2h05m'],
  ])('shows an ETA of %i s as %s', (eta, shown) => {
    expect(progressMarkdown({ ...base, etaSeconds: eta }).split('\n')[0]).toBe(
      `**running** · 55% of 20 items · ETA ${shown}`,
    );
  });

  it('shows no ETA when it is unknown or the batch is not running', () => {
    expect(progressMarkdown({ ...base, etaSeconds: null }).split('\n')[0]).toBe(
      '**running** · 55% of 20 items',
    );
    expect(progressMarkdown({ ...base, status: 'completed', etaSeconds: 0 }).split('\n')[0]).toBe(
      '**completed** · 55% of 20 items',
    );
  });
});

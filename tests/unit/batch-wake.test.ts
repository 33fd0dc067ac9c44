// Why the batch loop wakes (workflows/batch-wake.ts), on plain data: each reason alone, none, and
// which reason is named when several hold.
import { describe, expect, it } from 'vitest';
import type { BatchState } from '../../workflows/batch-state';
import { wakeReason, type WakeView } from '../../workflows/batch-wake';
import { inFlightPage, newState, outcome, pageLaneWith } from '../helpers/engine-state';

const FAIL_FAST = { failFast: true };

/** A batch mid-walk with something in flight and nothing to do: each test changes one thing. */
function view(state: BatchState, more: Partial<WakeView> = {}): WakeView {
  return {
    state,
    lane: { idle: false, wantsTurn: false },
    canStartMore: false,
    failurePolicy: FAIL_FAST,
    resultsPageSize: 2,
    shownStatus: 'running',
    ...more,
  };
}

describe('wakeReason', () => {
  it('none: keep waiting', () => {
    expect(wakeReason(view(newState(10)))).toBeUndefined();
  });

  it('all-done: the walk reached the end and nothing is in flight', () => {
    const s = newState(10);
    s.advanceTo(10);
    expect(wakeReason(view(s))).toBeUndefined();
    expect(wakeReason(view(s, { lane: { idle: true, wantsTurn: false } }))).toBe('all-done');
    // Idle before the end of the walk is a batch between two starts, not a finished one.
    expect(wakeReason(view(newState(10), { lane: { idle: true, wantsTurn: false } }))).toBeUndefined();
  });

  it('slots-free: the lane could start an item now', () => {
    expect(wakeReason(view(newState(10), { canStartMore: true }))).toBe('slots-free');
  });

  it('results-page-full: a results page worth of outcomes is waiting', () => {
    const s = newState(10);
    s.record(outcome(0));
    expect(wakeReason(view(s))).toBeUndefined();
    s.record(outcome(1));
    expect(wakeReason(view(s))).toBe('results-page-full');
    s.resultsPageWritten(2);
    expect(wakeReason(view(s))).toBeUndefined();
  });

  it('audit-queued: an audit entry is waiting to be written', () => {
    const s = newState(10);
    s.setLimits({ concurrency: 4 }, { kind: 'update', updateId: 'u1' });
    expect(wakeReason(view(s))).toBe('audit-queued');
    s.auditWritten(1);
    expect(wakeReason(view(s))).toBeUndefined();
  });

  it('lane-turn: the lane has something to tell what it holds in flight', () => {
    expect(wakeReason(view(newState(10), { lane: { idle: false, wantsTurn: true } }))).toBe('lane-turn');
  });

  it('lane-turn from a real lane: a pause its pages have not been told', () => {
    const s = newState(20, { limits: { concurrency: 4 } });
    const lane = pageLaneWith(s, [inFlightPage(0, 10, 2), inFlightPage(10, 10, 2)]);
    expect(wakeReason(view(s, { lane }))).toBeUndefined();
    s.pause({ reason: 'paused by operator', sender: { kind: 'signal', name: 'pause' } });
    s.auditWritten(1);
    expect(wakeReason(view(s, { lane, shownStatus: 'paused' }))).toBe('lane-turn');
  });

  it('status-changed: the Web UI shows another status than the batch has', () => {
    const s = newState(10);
    s.pause({ reason: 'paused by operator', sender: { kind: 'signal', name: 'pause' } });
    s.auditWritten(1);
    expect(wakeReason(view(s))).toBe('status-changed');
    expect(wakeReason(view(s, { shownStatus: 'paused' }))).toBeUndefined();
  });

  it('failure-policy: the policy is breached', () => {
    const s = newState(10);
    s.record(outcome(0, 'failed'));
    expect(wakeReason(view(s))).toBe('failure-policy');
    expect(wakeReason(view(s, { failurePolicy: { failFast: false, maxFailures: 1 } }))).toBeUndefined();
  });

  it('names the first reason when several hold', () => {
    const s = newState(2);
    s.record(outcome(0, 'failed'));
    s.record(outcome(1, 'failed'));
    s.pause({ reason: 'paused by operator', sender: { kind: 'signal', name: 'pause' } });
    s.advanceTo(2);
    const all = { lane: { idle: true, wantsTurn: true }, canStartMore: true };
    expect(wakeReason(view(s, all))).toBe('all-done');
    expect(wakeReason(view(s, { ...all, lane: { idle: false, wantsTurn: true } }))).toBe('slots-free');
    expect(wakeReason(view(s, { lane: { idle: false, wantsTurn: true } }))).toBe('results-page-full');
    s.resultsPageWritten(2);
    expect(wakeReason(view(s, { lane: { idle: false, wantsTurn: true } }))).toBe('audit-queued');
    s.auditWritten(1);
    expect(wakeReason(view(s, { lane: { idle: false, wantsTurn: true } }))).toBe('lane-turn');
    expect(wakeReason(view(s))).toBe('status-changed');
    expect(wakeReason(view(s, { shownStatus: 'paused' }))).toBe('failure-policy');
  });
});

// The parent's bookkeeping (workflows/batch-state.ts and the lanes' share of it, workflows/lanes/)
// without a server: outcomes counted once, the failure policy, cancelling what never started, every
// verb of BatchState, slots of items and pages, and the state carried across continue-as-new.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchState } from '../../workflows/batch-state';
import type { CarriedState } from '../../workflows/carried-state';
import { ItemLane } from '../../workflows/lanes/item-lane';
import { PageLane } from '../../workflows/lanes/page-lane';
import { unranOutcome } from '../../workflows/outcomes';
import type { AuditDraft } from '../../workflows/types';
import {
  BATCH_ID,
  inFlightItems,
  inFlightPage,
  itemLaneOf,
  itemLaneWith,
  key,
  LANE_INPUT,
  LIMITS,
  NEW_RUN,
  newState,
  outcome,
  pageLaneWith,
  SPEC,
} from '../helpers/engine-state';

const STARTED = '2024-05-01T09:59:00.000Z';
/** Workflow time while a test runs (BatchState stamps audits and the end with it). */
const NOW = '2024-05-01T10:30:00.000Z';
const OPERATOR: AuditDraft['sender'] = { kind: 'signal', name: 'pause' };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date(NOW));
});
afterEach(() => {
  vi.useRealTimers();
});

describe('BatchState outcomes', () => {
  it('counts the outcome of an item in flight once; a repeated or stray outcome changes nothing', () => {
    const s = newState(5);
    const lane = itemLaneWith(s, 0, 1);
    s.block(key(0), `${BATCH_ID}/${key(0)}`);

    expect(lane.takeItemReport(outcome(0), {})).toBe('applied');
    expect(lane.takeItemReport(outcome(0), {})).toBe('stray');
    expect(lane.takeItemReport(outcome(4), {})).toBe('stray');
    expect(s.counts).toEqual({ succeeded: 1, failed: 0, skipped: 0, cancelled: 0 });
    expect(lane.toCarried().inFlight.map((f) => f.key)).toEqual([key(1)]);
    expect(s.blocked).toEqual({});
    expect(s.unwrittenOutcomes.map((o) => o.key)).toEqual([key(0)]);
    expect(s.stats.finished).toBe(1);

    const failed = outcome(1, 'failed', { errorType: 'PermanentTargetError', errorMessage: 'HTTP 400' });
    expect(lane.takeItemReport(failed, {})).toBe('applied');
    expect(s.counts).toEqual({ succeeded: 1, failed: 1, skipped: 0, cancelled: 0 });
    expect(s.failures).toEqual([
      {
        key: key(1),
        index: 1,
        errorType: 'PermanentTargetError',
        errorMessage: 'HTTP 400',
        attempts: 1,
        at: failed.endedAt,
      },
    ]);
    expect(s.stats.errorsByType).toEqual({ PermanentTargetError: 1 });
    expect(s.finishedCount).toBe(2);
    expect(s.walked && lane.idle).toBe(false);
  });

  it('ignores an outcome for an item in flight sent by another child or for another index', () => {
    const s = newState(3);
    const lane = new ItemLane(
      s,
      LANE_INPUT,
      SPEC,
      [{ key: key(0), index: 0, childId: `${BATCH_ID}/${key(0)}`, startedAt: STARTED, token: 't0' }],
      () => undefined,
      NEW_RUN,
    );
    const ignored = { ignored: 'not sent by the child that holds the item' };
    expect(lane.takeItemReport(outcome(0), { token: 'forged' })).toEqual(ignored);
    expect(lane.takeItemReport(outcome(0), { childId: 'b/other', token: 't0' })).toEqual(ignored);
    expect(lane.takeItemReport({ ...outcome(0), index: 2 }, { token: 't0' })).toEqual(ignored);
    expect(s.finishedCount).toBe(0);
    expect(lane.takeItemReport(outcome(0), { childId: `${BATCH_ID}/${key(0)}`, token: 't0' })).toBe(
      'applied',
    );
    expect(s.counts.succeeded).toBe(1);
  });

  it('records an item that never ran (skipped, not started) with no attempts and no latency', () => {
    const s = newState(3);
    const skipped = unranOutcome({ index: 2, key: key(2) }, 'skipped', 'InvalidItem', 'email: required');
    expect(skipped).toMatchObject({ attempts: 0, latencyMs: 0, errorType: 'InvalidItem' });
    expect(skipped.startedAt).toBe(skipped.endedAt);
    expect(unranOutcome({ index: 0, key: key(0) }, 'cancelled', 'Cancelled', 'x', STARTED).startedAt).toBe(
      STARTED,
    );
    s.record(skipped);
    expect(s.counts).toEqual({ succeeded: 0, failed: 0, skipped: 1, cancelled: 0 });
    // Skipped items are not timed: they would pull latency percentiles towards zero.
    expect(s.stats.finished).toBe(0);
    expect(s.failures).toEqual([]);
  });

  it('keeps the 50 most recent failures, newest last, and counts every one', () => {
    const s = newState(60);
    for (let i = 0; i < 60; i++) s.record(outcome(i, 'failed'));
    expect(s.counts.failed).toBe(60);
    expect(s.failures).toHaveLength(50);
    expect(s.failures[0]).toMatchObject({ key: key(10), errorType: 'Error', errorMessage: '' });
    expect(s.failures.at(-1)?.key).toBe(key(59));
  });

  it('cancels every item never started, except pending items an operator already skipped', () => {
    const s = newState(10);
    // K0002 was skipped by cancelItem before the cursor reached it (never started); K0005 (next)
    // and K0007 are ahead.
    s.skipPending(key(1), 1);
    const lane = itemLaneOf(s, [...inFlightItems(0, 0), ...inFlightItems(2, 3)]);
    for (const i of [0, 2, 3]) lane.takeItemReport(outcome(i), {});
    s.skipPending(key(4), 4);
    s.skipPending(key(6), 6);

    expect(s.cancelNotStarted()).toBe(4);
    expect(s.counts).toEqual({ succeeded: 3, failed: 0, skipped: 3, cancelled: 4 });
    expect(s.cursor).toBe(10);
    expect(s.finishedCount).toBe(10);
    expect(s.walked && lane.idle).toBe(true);
  });

  it('is running, paused, or what its ending says', () => {
    const s = newState(1);
    expect(s.currentStatus()).toBe('running');
    s.pause({ reason: 'paused by operator', sender: OPERATOR });
    expect(s.currentStatus()).toBe('paused');
    s.beginEnding('cancelling', 'cancellation requested');
    expect(s.currentStatus()).toBe('cancelling');
  });
});

describe('BatchState failure policy', () => {
  const none = { failFast: false };

  it('is never breached without a failure', () => {
    const s = newState(10);
    s.record(outcome(0));
    expect(s.failurePolicyBreach({ failFast: true, maxFailures: 0, maxFailureRate: 0 })).toBeUndefined();
  });

  it('fail-fast names the latest failed item', () => {
    const s = newState(10);
    s.record(outcome(0, 'failed'));
    s.record(outcome(1, 'failed'));
    expect(s.failurePolicyBreach({ failFast: true })).toBe('fail-fast: item failed (K0002)');
    expect(s.failurePolicyBreach(none)).toBeUndefined();
  });

  it('max-failures allows exactly that many failures', () => {
    const s = newState(10);
    s.record(outcome(0, 'failed'));
    s.record(outcome(1, 'failed'));
    expect(s.failurePolicyBreach({ ...none, maxFailures: 2 })).toBeUndefined();
    s.record(outcome(2, 'failed'));
    expect(s.failurePolicyBreach({ ...none, maxFailures: 2 })).toBe(
      '3 items failed, more than --max-failures 2',
    );
  });

  it('max-failure-rate judges succeeded and failed items only, once 10 of them finished', () => {
    const policy = { ...none, maxFailureRate: 20 };
    const s = newState(100);
    for (let i = 0; i < 3; i++) s.record(outcome(i, 'failed'));
    for (let i = 3; i < 9; i++) s.record(outcome(i));
    for (let i = 9; i < 14; i++) s.record(outcome(i, 'skipped'));
    // 3 of 9 judged (33%) but fewer than 10 judged: one early failure must not end a large batch.
    expect(s.failurePolicyBreach(policy)).toBeUndefined();
    s.record(outcome(14));
    expect(s.failurePolicyBreach(policy)).toBe('failure rate 30.0% exceeds --max-failure-rate 20%');
    // Exactly at the limit is not above it.
    expect(s.failurePolicyBreach({ ...none, maxFailureRate: 30 })).toBeUndefined();
  });

  it('max-failure-rate judges a batch of fewer than 10 items once all of them finished', () => {
    const s = newState(4);
    s.record(outcome(0, 'failed'));
    for (let i = 1; i < 3; i++) s.record(outcome(i));
    expect(s.failurePolicyBreach({ ...none, maxFailureRate: 20 })).toBeUndefined();
    s.record(outcome(3));
    expect(s.failurePolicyBreach({ ...none, maxFailureRate: 20 })).toBe(
      'failure rate 25.0% exceeds --max-failure-rate 20%',
    );
  });
});

describe('BatchState verbs', () => {
  it('audits a pause in one shape whatever caused it', () => {
    const s = newState(10, { limits: { concurrency: 2, budget: 1 } });
    s.pause({ reason: 'paused by operator', sender: OPERATOR });
    s.pause({ reason: 'source changed', by: 'source' });
    s.pause({ reason: 'the workers cannot run items', by: 'worker', args: { item: key(3) } });
    s.pauseForStorage('ENOSPC: no space left on device');
    s.pauseForBudget(1, { key: key(4), cost: 0.25 }, 0.875);

    const budgetReason =
      'budget 1 reached: spent 0, in flight 0.875, next item K0005 would cost 0.25; ' +
      'raise it with `durabatch set b --budget N` and resume';
    expect(s.auditQueue).toEqual([
      { action: 'pause', args: { reason: 'paused by operator' }, sender: OPERATOR, seq: 1, at: NOW },
      { action: 'pause', by: 'source', args: { reason: 'source changed' }, seq: 2, at: NOW },
      {
        action: 'pause',
        by: 'worker',
        args: { item: key(3), reason: 'the workers cannot run items' },
        seq: 3,
        at: NOW,
      },
      {
        action: 'pause',
        by: 'worker',
        args: { reason: 'ENOSPC: no space left on device' },
        seq: 4,
        at: NOW,
      },
      {
        action: 'pause',
        by: 'budget',
        args: { budget: 1, spent: 0, committed: 0.875, reason: budgetReason },
        seq: 5,
        at: NOW,
      },
    ]);
    expect([s.paused, s.pauseReason]).toEqual([true, budgetReason]);
  });

  it('reason given in args never overrides the reason of the pause', () => {
    const s = newState(1);
    s.pause({ reason: 'mine', sender: OPERATOR, args: { reason: 'theirs' } });
    expect(s.auditQueue[0]?.args).toEqual({ reason: 'mine' });
  });

  it('shows a storage failure as paused, even while ending, until the write is tried again', () => {
    const s = newState(2);
    s.beginEnding('cancelling', 'cancellation requested');
    s.pauseForStorage('EACCES: output not writable');
    expect([s.currentStatus(), s.storageFailure]).toEqual(['paused', 'EACCES: output not writable']);
    s.storageRetried();
    expect([s.currentStatus(), s.storageFailure]).toEqual(['cancelling', undefined]);
  });

  it('resume unpauses, audits, and returns the blocked items once, clearing them', () => {
    const s = newState(10);
    s.block(key(1), 'b/K0002');
    s.block(key(7), 'b/page-5');
    s.pause({ reason: 'the workers cannot run items', by: 'worker', args: { item: key(1) } });
    const resumeSender: AuditDraft['sender'] = { kind: 'signal', name: 'resume' };

    expect(s.resume(resumeSender)).toEqual({ [key(1)]: 'b/K0002', [key(7)]: 'b/page-5' });
    expect([s.paused, s.pauseReason, s.blocked]).toEqual([false, undefined, {}]);
    expect(s.auditQueue.at(-1)).toEqual({ action: 'resume', sender: resumeSender, seq: 2, at: NOW });
    expect(s.resume(resumeSender)).toEqual({});
  });

  it('forgets a blocked item once its outcome is recorded', () => {
    const s = newState(3);
    s.block(key(0), 'b/K0001');
    s.block(key(1), 'b/K0002');
    s.record(outcome(0, 'failed'));
    expect(s.blocked).toEqual({ [key(1)]: 'b/K0002' });
  });

  it('setLimits changes only the fields given; null clears rate or budget', () => {
    const s = newState(10, { limits: { concurrency: 4, rate: 5, budget: 100 } });
    const sender: AuditDraft['sender'] = { kind: 'update', updateId: 'u1' };
    expect(s.setLimits({ concurrency: 8 }, sender)).toEqual({ concurrency: 8, rate: 5, budget: 100 });
    expect(s.setLimits({ rate: null }, sender)).toEqual({ concurrency: 8, rate: undefined, budget: 100 });
    expect(s.setLimits({ budget: 50 }, sender)).toEqual({ concurrency: 8, rate: undefined, budget: 50 });
    expect(s.setLimits({ budget: null, rate: 2 }, sender)).toEqual({
      concurrency: 8,
      rate: 2,
      budget: undefined,
    });
    expect(s.limits).toEqual({ concurrency: 8, rate: 2, budget: undefined });
    expect(s.auditQueue.map((a) => [a.action, a.args, a.sender])).toEqual([
      ['set', { concurrency: 8 }, sender],
      ['set', { rate: null }, sender],
      ['set', { budget: 50 }, sender],
      ['set', { budget: null, rate: 2 }, sender],
    ]);
  });

  it('advanceTo never moves the cursor back nor past the total', () => {
    const s = newState(10);
    s.advanceTo(4);
    expect([s.cursor, s.walked]).toEqual([4, false]);
    s.advanceTo(2);
    expect(s.cursor).toBe(4);
    s.advanceTo(15); // a last page counted in full
    expect([s.cursor, s.walked]).toEqual([10, true]);
    s.advanceTo(9);
    expect(s.cursor).toBe(10);
  });

  it('skipPending counts the item skipped at once, and the ending does not count it again', () => {
    const s = newState(5);
    s.skipPending(key(3), 3);
    expect(s.cancelledPending).toEqual({ [key(3)]: 3 });
    expect(s.counts).toEqual({ succeeded: 0, failed: 0, skipped: 1, cancelled: 0 });
    expect(s.unwrittenOutcomes).toEqual([
      {
        index: 3,
        key: key(3),
        status: 'skipped',
        attempts: 0,
        latencyMs: 0,
        startedAt: NOW,
        endedAt: NOW,
        errorType: 'CancelledBeforeStart',
        errorMessage: 'cancelled by an operator before it started',
      },
    ]);
    expect(s.cancelNotStarted()).toBe(0);
    expect(s.counts).toEqual({ succeeded: 0, failed: 0, skipped: 1, cancelled: 4 });
    expect(s.finishedCount).toBe(5);
  });

  it('writing results and audits drops what was written and numbers the next results page', () => {
    const s = newState(5);
    for (let i = 0; i < 3; i++) s.record(outcome(i));
    s.pause({ reason: 'x', sender: OPERATOR });
    s.resume({ kind: 'signal', name: 'resume' });
    s.resultsPageWritten(2);
    s.auditWritten(1);
    expect([s.resultsPage, s.unwrittenOutcomes.map((o) => o.key)]).toEqual([1, [key(2)]]);
    expect(s.auditQueue.map((a) => [a.action, a.seq])).toEqual([['resume', 2]]);
  });

  describe('end()', () => {
    it('completed: nothing failed (skipped and cancelled items do not count against it)', () => {
      const s = newState(3);
      s.record(outcome(0));
      s.record(outcome(1, 'skipped'));
      s.record(outcome(2, 'cancelled'));
      expect(s.end()).toBe('completed');
      expect([s.ending, s.endedAt, s.currentStatus()]).toEqual([
        { status: 'completed', reason: undefined },
        NOW,
        'completed',
      ]);
    });

    it('partial_failure: some items failed, some succeeded', () => {
      const s = newState(2);
      s.record(outcome(0));
      s.record(outcome(1, 'failed'));
      expect(s.end()).toBe('partial_failure');
      expect(s.ending).toEqual({ status: 'partial_failure', reason: undefined });
    });

    it('failed: items failed and none succeeded, saying so', () => {
      const s = newState(3);
      s.record(outcome(0, 'failed'));
      s.record(outcome(1, 'failed'));
      s.record(outcome(2, 'skipped'));
      expect(s.end()).toBe('failed');
      expect(s.ending).toEqual({ status: 'failed', reason: 'no item succeeded: 2 failed' });
    });

    it('failed: the failure policy ended it, with the policy as the reason', () => {
      const s = newState(3);
      s.record(outcome(0));
      s.record(outcome(1, 'failed'));
      s.beginEnding('failed', 'fail-fast: item failed (K0002)');
      expect(s.auditQueue).toEqual([]);
      expect(s.end()).toBe('failed');
      expect(s.ending).toEqual({ status: 'failed', reason: 'fail-fast: item failed (K0002)' });
    });

    it('cancelled: a cancel request, audited once, whatever failed', () => {
      const s = newState(3);
      s.record(outcome(0, 'failed'));
      s.beginEnding('cancelling', 'cancellation requested');
      expect(s.auditQueue).toEqual([{ action: 'cancel', sender: { kind: 'cancel' }, seq: 1, at: NOW }]);
      expect(s.cancelNotStarted()).toBe(0);
      expect(s.end()).toBe('cancelled');
      expect(s.ending).toEqual({ status: 'cancelled', reason: 'cancellation requested' });
    });

    it('a report that could not be written amends the reason', () => {
      const s = newState(1);
      s.record(outcome(0, 'failed'));
      s.end();
      expect(s.amendEndingReason('the report could not be written: ENOSPC')).toBe(
        'no item succeeded: 1 failed; the report could not be written: ENOSPC',
      );
      const ok = newState(1);
      ok.record(outcome(0));
      ok.end();
      expect(ok.amendEndingReason('the report could not be written: ENOSPC')).toBe(
        'the report could not be written: ENOSPC',
      );
      expect(ok.ending?.status).toBe('completed');
    });
  });
});

describe('slots of items and pages', () => {
  it('an item holds one slot while in flight', () => {
    const s = newState(10, { limits: { concurrency: 10 } });
    const lane = itemLaneWith(s, 0, 1);
    expect([lane.usedSlots, lane.running, lane.wantsTurn]).toEqual([2, 2, false]);
    lane.takeItemReport(outcome(0), {});
    expect([lane.usedSlots, lane.running]).toEqual([1, 1]);
  });

  it('counts slots and running items of pages', () => {
    const s = newState(40, { limits: { concurrency: 10 } });
    const open = inFlightPage(2, 10, 4);
    const paused = inFlightPage(12, 10, 3, { paused: true, running: 1 });
    const waiting = inFlightPage(22, 10, 2, { need: { cost: 5, key: key(22) }, running: 0 });
    const lane = pageLaneWith(s, [open, paused, waiting]);
    expect(lane.usedSlots).toBe(4 + 3 + 2);
    // A page that starts no more (paused, or waiting for budget) runs what it last reported.
    expect(lane.running).toBe(4 + 1 + 0);

    // A page with fewer unreported items than slots runs only those.
    const nearlyDone = pageLaneWith(newState(40, { limits: { concurrency: 10 } }), [
      inFlightPage(2, 10, 4, { done: '1111111100' }),
      inFlightPage(12, 10, 3, { paused: true, running: 1 }),
    ]);
    expect([nearlyDone.usedSlots, nearlyDone.running]).toEqual([4 + 3, 2 + 1]);
    expect([paused.slots, waiting.slots]).toEqual([3, 2]);
  });

  it("applies a page's outcomes once each, shrinks its slots, and lets a fully reported page go", () => {
    const s = newState(4);
    const page = inFlightPage(0, 4, 3);
    const lane = pageLaneWith(s, [page]);
    expect(lane.applyReport('nope', [outcome(0)], 3)).toBe(false);

    expect(lane.applyReport(page.childId, [outcome(0), outcome(1)], 2)).toBe(true);
    expect(page).toMatchObject({ done: '1100', unfinished: 2, slots: 2 });
    // A repeated signal and an index outside the page count nothing.
    lane.applyReport(page.childId, [outcome(1), outcome(7)], 2);
    expect(s.counts.succeeded).toBe(2);
    expect(s.walked && lane.idle).toBe(false);

    lane.applyReport(page.childId, [outcome(2), outcome(3, 'failed')], 0);
    expect(s.counts).toEqual({ succeeded: 3, failed: 1, skipped: 0, cancelled: 0 });
    expect(lane.inFlight.size).toBe(0);
    expect(s.walked && lane.idle).toBe(true);
  });
});

describe('BatchState across continue-as-new', () => {
  /** Continue-as-new sends the state as JSON. */
  const overJson = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

  it('carries everything as plain data; the next run goes on counting from there', () => {
    const s = newState(10);
    const lane = itemLaneWith(s, 0, 3, 1.5);
    lane.takeItemReport(outcome(0, 'succeeded', { cost: 2 }), {});
    lane.takeItemReport(outcome(1, 'failed'), {});
    s.skipPending(key(8), 8);
    s.pause({ reason: 'paused by operator', sender: OPERATOR });
    s.setLimits({ concurrency: 5, budget: 20 }, { kind: 'update', updateId: 'u1' });

    const carried: CarriedState = overJson({ ...s.toCarried(), ...lane.toCarried() });
    const next = new BatchState(BATCH_ID, 10, LIMITS, carried);
    const nextLane = new ItemLane(next, LANE_INPUT, SPEC, carried.inFlight, () => undefined, NEW_RUN);
    expect({ ...next.toCarried(), ...nextLane.toCarried() }).toEqual({
      ...s.toCarried(),
      ...lane.toCarried(),
      runNumber: s.runNumber + 1,
    });
    // The carried limits (changed by setLimits) win over the ones the batch started with.
    expect(next.limits).toEqual({ concurrency: 5, rate: undefined, budget: 20 });
    expect(nextLane.committedCost).toBe(lane.committedCost);
    expect(nextLane.committedCost).toBe(2 + 2 * 1.5);
    expect(next.currentStatus()).toBe('paused');
    expect(next.cancelledPending).toEqual({ [key(8)]: 8 });

    next.resume({ kind: 'signal', name: 'resume' });
    expect(next.auditQueue.map((a) => [a.action, a.seq])).toEqual([
      ['pause', 1],
      ['set', 2],
      ['resume', 3],
    ]);
    expect(nextLane.takeItemReport(outcome(2), {})).toBe('applied');
    expect(next.counts).toEqual({ succeeded: 2, failed: 1, skipped: 1, cancelled: 0 });
    expect(s.counts.succeeded).toBe(1);
  });

  it('carries the pages in flight with their reports and allowances', () => {
    const s = newState(10, { limits: { concurrency: 2, budget: 20 } });
    const page = inFlightPage(4, 3, 1, { allowance: 4 });
    const lane = pageLaneWith(s, [page]);
    lane.applyReport(
      page.childId,
      [outcome(4, 'succeeded', { cost: 1 })],
      2,
      { spent: 1, inflight: 0.5 },
      {
        running: 1,
      },
    );

    const carried: CarriedState = overJson({ ...s.toCarried(), ...lane.toCarried() });
    expect(carried.inFlight).toEqual([]);
    const next = new BatchState(BATCH_ID, 10, LIMITS, carried);
    const nextLane = new PageLane(next, LANE_INPUT, SPEC, 3, carried.pages ?? [], NEW_RUN);
    expect({ ...next.toCarried(), ...nextLane.toCarried() }).toEqual({
      ...s.toCarried(),
      ...lane.toCarried(),
      runNumber: s.runNumber + 1,
    });
    expect([nextLane.usedSlots, nextLane.committedCost, nextLane.reservedCost]).toEqual([1, 1.5, 4]);
    expect(nextLane.inFlight.get(page.childId)).toMatchObject({ done: '100', spent: 1, allowance: 4 });
  });
});

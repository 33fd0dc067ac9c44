// The parent's bookkeeping (workflows/batch-state.ts) without a server: outcomes counted once, the
// failure policy, cancelling what never started, slots of items and pages, and the state carried
// across continue-as-new.
import { describe, expect, it } from 'vitest';
import { BatchState } from '../../workflows/batch-state';
import { unranOutcome } from '../../workflows/outcomes';
import { BATCH_ID, key, LIMITS, newState, outcome, startItems, startPage } from '../helpers/engine-state';

const STARTED = '2024-05-01T09:59:00.000Z';

describe('BatchState outcomes', () => {
  it('counts the outcome of an item in flight once; a repeated or stray outcome changes nothing', () => {
    const s = newState(5);
    startItems(s, 0, 1);
    s.blocked[key(0)] = `${BATCH_ID}/${key(0)}`;

    expect(s.applyOutcome(outcome(0))).toBe(true);
    expect(s.applyOutcome(outcome(0))).toBe(false);
    expect(s.applyOutcome(outcome(4))).toBe(false);
    expect(s.counts).toEqual({ succeeded: 1, failed: 0, skipped: 0, cancelled: 0 });
    expect([...s.inFlight.keys()]).toEqual([key(1)]);
    expect(s.blocked).toEqual({});
    expect(s.unwrittenOutcomes.map((o) => o.key)).toEqual([key(0)]);
    expect(s.stats.finished).toBe(1);

    const failed = outcome(1, 'failed', { errorType: 'PermanentTargetError', errorMessage: 'HTTP 400' });
    expect(s.applyOutcome(failed)).toBe(true);
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
    expect(s.allDone).toBe(false);
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
    startItems(s, 0, 3);
    for (const i of [0, 2, 3]) s.applyOutcome(outcome(i));
    // K0002 was skipped by cancelItem before the cursor reached it; K0005 (next) and K0007 are ahead.
    s.applyOutcome(outcome(1, 'skipped'));
    for (const i of [1, 4, 6]) s.cancelledPending[key(i)] = i;
    s.record(outcome(4, 'skipped'));
    s.record(outcome(6, 'skipped'));

    expect(s.cancelNotStarted()).toBe(4);
    expect(s.counts).toEqual({ succeeded: 3, failed: 0, skipped: 3, cancelled: 4 });
    expect(s.cursor).toBe(10);
    expect(s.finishedCount).toBe(10);
    expect(s.allDone).toBe(true);
  });

  it('is running, paused, or what its ending says', () => {
    const s = newState(1);
    expect(s.currentStatus()).toBe('running');
    s.paused = true;
    expect(s.currentStatus()).toBe('paused');
    s.ending = { status: 'cancelling', reason: 'cancellation requested' };
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

describe('BatchState slots', () => {
  it('counts slots and running items of single items and of pages', () => {
    const s = newState(40, { limits: { concurrency: 10 } });
    startItems(s, 0, 1);
    const open = startPage(s, 2, 10, 4);
    const paused = startPage(s, 12, 10, 3, { paused: true, running: 1 });
    const waiting = startPage(s, 22, 10, 2, { need: { cost: 5, key: key(22) }, running: 0 });
    expect(s.usedSlots).toBe(2 + 4 + 3 + 2);
    // A page that starts no more (paused, or waiting for budget) runs what it last reported.
    expect(s.runningCount).toBe(2 + 4 + 1 + 0);

    // A page with fewer unreported items than slots runs only those.
    open.done = '1111111100';
    expect(s.runningCount).toBe(2 + 2 + 1 + 0);
    expect([paused.slots, waiting.slots]).toEqual([3, 2]);
  });

  it("applies a page's outcomes once each, shrinks its slots, and lets a fully reported page go", () => {
    const s = newState(4);
    const page = startPage(s, 0, 4, 3);
    expect(s.applyPageOutcomes('nope', [outcome(0)], 3)).toBe(false);

    expect(s.applyPageOutcomes(page.childId, [outcome(0), outcome(1)], 2)).toBe(true);
    expect(page).toMatchObject({ done: '1100', unfinished: 2, slots: 2 });
    // A repeated signal and an index outside the page count nothing.
    s.applyPageOutcomes(page.childId, [outcome(1), outcome(7)], 2);
    expect(s.counts.succeeded).toBe(2);
    expect(s.allDone).toBe(false);

    s.applyPageOutcomes(page.childId, [outcome(2), outcome(3, 'failed')], 0);
    expect(s.counts).toEqual({ succeeded: 3, failed: 1, skipped: 0, cancelled: 0 });
    expect(s.pages.size).toBe(0);
    expect(s.allDone).toBe(true);
  });
});

describe('BatchState across continue-as-new', () => {
  it('carries everything as plain data; the next run goes on counting from there', () => {
    const s = newState(10);
    startItems(s, 0, 3, 1.5);
    s.applyOutcome(outcome(0, 'succeeded', { cost: 2 }));
    s.applyOutcome(outcome(1, 'failed'));
    startPage(s, 4, 3, 1, { allowance: 4 });
    s.cancelledPending[key(8)] = 8;
    s.paused = true;
    s.pauseReason = 'paused by operator';
    s.limits = { concurrency: 5, budget: 20 };
    s.audit({ action: 'pause', args: { reason: 'paused by operator' } });

    // Continue-as-new sends the state as JSON.
    const carried = JSON.parse(JSON.stringify(s.toCarried())) as ReturnType<BatchState['toCarried']>;
    const next = new BatchState(BATCH_ID, 10, LIMITS, carried);
    expect(next.toCarried()).toEqual({ ...s.toCarried(), runNumber: s.runNumber + 1 });
    // The carried limits (changed by setLimits) win over the ones the batch started with.
    expect(next.limits).toEqual({ concurrency: 5, budget: 20 });
    expect(next.committedCost).toBe(s.committedCost);
    expect(next.currentStatus()).toBe('paused');

    next.audit({ action: 'resume' });
    expect(next.auditQueue.map((a) => [a.action, a.seq])).toEqual([
      ['pause', 1],
      ['resume', 2],
    ]);
    next.applyOutcome(outcome(2));
    expect(next.counts).toEqual({ succeeded: 2, failed: 1, skipped: 0, cancelled: 0 });
    expect(s.counts.succeeded).toBe(1);
  });
});

// The pure parts of starting items (workflows/item-starts.ts), shared by the batch and its pages:
// pacing, recognising a source-read failure that pauses the batch, and the operator-skip outcome.
// StartTracker needs a workflow's cancellation scopes: the integration tests cover it.
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FailureType } from '../../workflows/failure-types';
import { operatorSkipped, Pacer, sourcePauseOf } from '../../workflows/item-starts';

describe('Pacer', () => {
  it('never waits without a rate, and books nothing', () => {
    let now = 1_000;
    const pacer = new Pacer(() => now);
    expect(pacer.reserve(undefined)).toBe(0);
    expect(pacer.reserve(0)).toBe(0);
    // A rate set later starts at once: nothing was booked while unpaced.
    expect(pacer.reserve(2)).toBe(0);
    now += 100;
    expect(pacer.reserve(2)).toBe(400);
  });

  it('spaces starts 1000/perSec ms apart from the last booked start', () => {
    let now = 10_000;
    const pacer = new Pacer(() => now);
    expect(pacer.reserve(4)).toBe(0); // booked: the next at 10 250
    expect(pacer.reserve(4)).toBe(250);
    now = 10_200;
    expect(pacer.reserve(4)).toBe(50);
    now = 10_250;
    expect(pacer.reserve(4)).toBe(0); // booked: the next at 10 500
    now = 10_499;
    expect(pacer.reserve(4)).toBe(1);
  });

  it('books from now after a late start: no burst makes up for time spent waiting elsewhere', () => {
    let now = 0;
    const pacer = new Pacer(() => now);
    expect(pacer.reserve(10)).toBe(0);
    now = 5_000; // paused for 5 s
    expect(pacer.reserve(10)).toBe(0);
    expect(pacer.reserve(10)).toBe(100);
  });

  it('takes a changed rate at the next booking', () => {
    let now = 0;
    const pacer = new Pacer(() => now);
    expect(pacer.reserve(1)).toBe(0); // the next at 1 000
    expect(pacer.reserve(100)).toBe(1_000); // what was booked stands
    now = 1_000;
    expect(pacer.reserve(100)).toBe(0);
    expect(pacer.reserve(100)).toBe(10);
  });
});

describe('sourcePauseOf', () => {
  const activityFailure = (cause: Error) =>
    new ActivityFailure('activity failed', 'readPage', '1', RetryState.NON_RETRYABLE_FAILURE, 'w', cause);

  it.each([
    FailureType.SourceChangedError,
    FailureType.SharedStorageError,
    FailureType.StoragePathNotAllowed,
  ])('returns the cause of a readPage failure of type %s', (type) => {
    const cause = ApplicationFailure.nonRetryable('items.jsonl changed since staging', type);
    const pause = sourcePauseOf(activityFailure(cause));
    expect(pause).toBe(cause);
    expect(pause?.type).toBe(type);
    expect(pause?.message).toBe('items.jsonl changed since staging');
  });

  it('returns undefined for any other failure', () => {
    expect(sourcePauseOf(activityFailure(ApplicationFailure.nonRetryable('x', FailureType.ItemFailed)))).toBe(
      undefined,
    );
    expect(sourcePauseOf(activityFailure(ApplicationFailure.create({ message: 'no type' })))).toBe(undefined);
    expect(sourcePauseOf(activityFailure(new Error('plain')))).toBe(undefined);
    // The pause types count only as an activity's failure, not thrown bare.
    expect(sourcePauseOf(ApplicationFailure.nonRetryable('x', FailureType.SourceChangedError))).toBe(
      undefined,
    );
    expect(sourcePauseOf(new Error('x'))).toBe(undefined);
    expect(sourcePauseOf(undefined)).toBe(undefined);
  });
});

describe('operatorSkipped', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is a skipped outcome that never ran, stamped now', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-04T05:06:07.000Z'));
    expect(operatorSkipped({ index: 41, key: 'K0042' })).toEqual({
      index: 41,
      key: 'K0042',
      status: 'skipped',
      attempts: 0,
      latencyMs: 0,
      startedAt: '2026-03-04T05:06:07.000Z',
      endedAt: '2026-03-04T05:06:07.000Z',
      errorType: FailureType.CancelledBeforeStart,
      errorMessage: 'cancelled by an operator before it started',
    });
  });
});

// How the batch's own activities (source pages, result files, the audit log, the report, visibility
// checks) are run. They heartbeat while they run (activities/index.ts, keptAlive), so a short
// heartbeat timeout bounds what a dead worker costs: the parent or page waits on such an activity,
// and with only a start-to-close timeout a worker killed mid-way held the whole batch for it (two
// minutes per kill). Since workers take activities eagerly, the one running a workflow task often
// runs its activities too, so this is the common case when a worker dies, not a rare one.
import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import { RUNNER_HEARTBEAT_TIMEOUT_MS } from './runner-protocol';
import type { createActivities } from '../activities';
import { BLOCKING_FAILURE_TYPES, FailureType, SOURCE_PAUSE_TYPES } from './failure-types';

/** A bookkeeping activity whose worker died is retried elsewhere after this long. */
export const BOOKKEEPING_HEARTBEAT_TIMEOUT = '10 seconds';

/**
 * Errors of the batch's own file work that fail the same way on every attempt: JavaScript's own
 * (a damaged page, a bug) and durabatch's deterministic types. Retrying them only hid a batch that
 * could never end (a report that failed on every attempt, for ever, while `status` said completed).
 */
export const BOOKKEEPING_NON_RETRYABLE = [
  'SyntaxError',
  'TypeError',
  'RangeError',
  'ReferenceError',
  FailureType.InputError,
  FailureType.SourceTruncated,
  FailureType.OutputStorageError,
];

/** Attempts of a bookkeeping activity unless it says otherwise: about 3 minutes of transient trouble. */
export const BOOKKEEPING_MAX_ATTEMPTS = 8;

/**
 * `options` for a bookkeeping activity: the heartbeat timeout that notices a dead worker, and
 * bounded attempts with the deterministic errors not retried, so a failure that does not pass
 * reaches the workflow, which pauses or says why (results-writer.ts), instead of waiting for ever.
 */
export function bookkeeping(options: ActivityOptions): ActivityOptions {
  return {
    heartbeatTimeout: BOOKKEEPING_HEARTBEAT_TIMEOUT,
    ...options,
    retry: {
      maximumAttempts: BOOKKEEPING_MAX_ATTEMPTS,
      nonRetryableErrorTypes: BOOKKEEPING_NON_RETRYABLE,
      ...options.retry,
    },
  };
}

/** Reading the staged source and writing result files and the report: retried, backing off to 30 s. */
export const FILE_WORK = bookkeeping({
  startToCloseTimeout: '2 minutes',
  retry: { maximumInterval: '30 seconds' },
});

/** The parent's and the pages' reads of the source, and the parent's report. */
export const { readPage, writeReport } = proxyActivities<ReturnType<typeof createActivities>>(FILE_WORK);

/**
 * A page's runner (`--item-execution runner`): it runs for as long as the page has items, paused
 * pages included, so its bound is its heartbeat (the batch's heartbeat timeout, default 10 s): a dead
 * worker's runner is retried within seconds, without end, except for what retrying cannot mend (the
 * page pauses the batch for those).
 */
export function runnerActivity(heartbeatTimeoutMs: number | undefined) {
  return proxyActivities<ReturnType<typeof createActivities>>({
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: heartbeatTimeoutMs ?? RUNNER_HEARTBEAT_TIMEOUT_MS,
    // The page ends only once its runner has: no item still acts on the target after that.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1 second',
      maximumInterval: '10 seconds',
      nonRetryableErrorTypes: [...BLOCKING_FAILURE_TYPES, ...SOURCE_PAUSE_TYPES],
    },
    summary: "runner: the page's items",
  }).runPageItems;
}

// The one place that decides how an item's step is retried. The batch's policy (config `retry`,
// `--max-attempts` and friends) with the step's own `retry` on top becomes the step activity's
// Temporal retry policy: Temporal runs every retry, the activity makes one attempt. Which errors are
// not worth retrying is said by the processor that met them (ApplicationFailure.nonRetryable, in
// activities/processors/) or listed in `nonRetryableErrorTypes`. A step the workers cannot run at all
// (BLOCKING_FAILURE_TYPES) is not retried here: the batch pauses and runs it again on `resume`.
import type { RetryPolicy } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { messageExcerpt } from './excerpt';
import { BLOCKING_FAILURE_TYPES } from './failure-types';
import type { ItemRetryPolicy, StepSpec } from './types';

/** A cancelled attempt's stop grace when the policy names none. */
export const DEFAULT_STOP_GRACE_MS = 5_000;
/** How long a running step may go without a heartbeat when the policy names none. */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 15_000;

/** The batch's retry policy with the step's own overrides. */
export function stepRetry(batchRetry: ItemRetryPolicy, step?: StepSpec): ItemRetryPolicy {
  return { ...batchRetry, ...step?.retry };
}

/** The policy in Temporal's terms, for the step's activity. */
export function temporalRetryPolicy(retry: ItemRetryPolicy): RetryPolicy {
  return {
    maximumAttempts: retry.maxAttempts,
    initialInterval: retry.initialIntervalMs,
    maximumInterval: retry.maxIntervalMs,
    backoffCoefficient: retry.backoffCoefficient,
    nonRetryableErrorTypes: retry.nonRetryableErrorTypes,
  };
}

/** The error of a step that failed because the workers cannot run items at all, if it did. */
export function blockingFailure(
  err: unknown,
  maxMessage: number,
): { errorType: string; errorMessage: string } | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || !BLOCKING_FAILURE_TYPES.includes(cause.type ?? '')) {
    return undefined;
  }
  return { errorType: cause.type!, errorMessage: messageExcerpt(cause.message, maxMessage) };
}

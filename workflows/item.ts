import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import type { createActivities } from '../activities';
import { workflowNow, workflowNowIso } from './clock';
import { itemCompletedSignal } from './messages';
import type { Item, ItemOutcome, ItemRetryPolicy, ProcessorSpec } from './types';

export interface ItemInput {
  batchId: string;
  /** The parent's workflow id (no run id: the signal must reach whichever run is current). */
  parentWorkflowId: string;
  item: Item;
  processor: ProcessorSpec;
  retry: ItemRetryPolicy;
  outputDir: string;
}

const MAX_MESSAGE = 500;

/**
 * One item of a batch. Runs the item's processor as an activity under the batch's retry policy, then
 * reports the outcome (succeeded, failed or cancelled) to the parent by signal, and ends in the
 * matching Temporal state (Completed, Failed or Canceled) so the Web UI reads true. Its history is the
 * item's checkpoint: a finished activity is never run again on replay.
 */
export async function itemWorkflow(input: ItemInput): Promise<ItemOutcome> {
  const { item, retry, processor } = input;
  const started = workflowNow();
  const startedAt = workflowNowIso();
  const { processItem } = proxyActivities<ReturnType<typeof createActivities>>({
    // Temporal owns retries; the activity itself never loops.
    startToCloseTimeout: processor.timeoutMs + 5_000,
    // The activity heartbeats every second: a dead worker is noticed in seconds, not at the timeout.
    heartbeatTimeout: retry.heartbeatTimeoutMs ?? 15_000,
    retry: {
      maximumAttempts: retry.maxAttempts,
      initialInterval: retry.initialIntervalMs,
      maximumInterval: retry.maxIntervalMs,
      backoffCoefficient: retry.backoffCoefficient,
      nonRetryableErrorTypes: retry.nonRetryableErrorTypes,
    },
    summary: `process ${item.key}`,
  });

  const finish = (partial: Omit<ItemOutcome, 'index' | 'key' | 'latencyMs' | 'startedAt' | 'endedAt'>) => ({
    index: item.index,
    key: item.key,
    latencyMs: workflowNow() - started,
    startedAt,
    endedAt: workflowNowIso(),
    ...partial,
  });

  let outcome: ItemOutcome;
  let failure: unknown;
  try {
    const result = await processItem({
      batchId: input.batchId,
      item,
      processor,
      outputDir: input.outputDir,
    });
    outcome = finish({
      status: 'succeeded',
      attempts: result.attempt,
      httpStatus: result.httpStatus,
      cost: result.cost,
      output: result.output,
    });
  } catch (err) {
    failure = err;
    if (isCancellation(err)) {
      outcome = finish({ status: 'cancelled', attempts: 0, errorType: 'Cancelled', errorMessage: 'item cancelled' });
    } else {
      outcome = finish({ status: 'failed', ...describeFailure(err, retry.maxAttempts) });
    }
  }

  // Report even when this workflow is being cancelled: the parent's slot must be freed either way.
  await CancellationScope.nonCancellable(async () => {
    try {
      await getExternalWorkflowHandle(input.parentWorkflowId).signal(itemCompletedSignal, outcome);
    } catch (err) {
      // The parent is gone (terminated or already closed); the item's own history still holds the outcome.
      log.warn('could not report outcome to parent', { batchId: input.batchId, itemKey: item.key, error: String(err) });
    }
  });

  if (failure !== undefined) {
    if (isCancellation(failure)) throw failure as Error;
    throw ApplicationFailure.nonRetryable(
      `item ${item.key} failed: ${outcome.errorMessage ?? ''}`,
      outcome.errorType ?? 'ItemFailed',
      outcome,
    );
  }
  return outcome;
}

/** Turns an activity failure into a bounded error description and the number of attempts made. */
function describeFailure(
  err: unknown,
  maxAttempts: number,
): { attempts: number; errorType: string; errorMessage: string; httpStatus?: number } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  let attempts = maxAttempts;
  if (err instanceof ActivityFailure && err.retryState === RetryState.NON_RETRYABLE_FAILURE) attempts = 0;
  let errorType = 'Error';
  let httpStatus: number | undefined;
  if (cause instanceof ApplicationFailure) {
    errorType = cause.type ?? 'Error';
    const details = cause.details?.[0] as { attempt?: number; httpStatus?: number } | undefined;
    if (details?.attempt) attempts = details.attempt;
    httpStatus = details?.httpStatus;
  } else if (cause instanceof TimeoutFailure) {
    errorType = 'Timeout';
  }
  if (attempts === 0) attempts = 1;
  const message = (cause instanceof Error ? cause.message : String(cause)).slice(0, MAX_MESSAGE);
  return { attempts, errorType, errorMessage: message, httpStatus };
}

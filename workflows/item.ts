import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  TimeoutFailure,
} from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import type { createActivities } from '../activities';
import { workflowNow, workflowNowIso } from './clock';
import { BLOCKING_FAILURE_TYPES } from './failure-types';
import { itemBlockedSignal, itemCompletedSignal, messageDescriptions, retryItemSignal } from './messages';
import { itemCost } from './cost';
import type { CostPolicy, Item, ItemOutcome, ItemRetryPolicy, StepResult, StepSpec } from './types';

export interface ItemInput {
  batchId: string;
  /** The parent's workflow id (no run id: the signal must reach whichever run is current). */
  parentWorkflowId: string;
  item: Item;
  /** One step (a single processor) or a pipeline, run in order. */
  steps: StepSpec[];
  retry: ItemRetryPolicy;
  cost?: CostPolicy;
  outputDir: string;
}

const MAX_MESSAGE = 500;

function stepActivity(step: StepSpec, batchRetry: ItemRetryPolicy) {
  const retry = { ...batchRetry, ...step.retry };
  return proxyActivities<ReturnType<typeof createActivities>>({
    // Temporal owns retries; the activity itself never loops.
    // Room for a cancelled attempt's stop grace, so it ends as cancelled, not timed out.
    startToCloseTimeout: step.processor.timeoutMs + (retry.stopGraceMs ?? 5_000) + 5_000,
    // The activity heartbeats every second: a dead worker is noticed in seconds, not at the timeout.
    heartbeatTimeout: retry.heartbeatTimeoutMs ?? 15_000,
    // A cancelled item ends only once its work has stopped (process group gone, request aborted,
    // module settled or abandoned): its slot is not freed while it still acts on the target.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      maximumAttempts: retry.maxAttempts,
      initialInterval: retry.initialIntervalMs,
      maximumInterval: retry.maxIntervalMs,
      backoffCoefficient: retry.backoffCoefficient,
      nonRetryableErrorTypes: retry.nonRetryableErrorTypes,
    },
    summary: `${step.name}: ${step.processor.type}`,
  }).processItem;
}

/**
 * One item of a batch. Runs the item's steps in order, each an activity under its own retry policy;
 * a later step can use earlier steps' results. A finished step is never run again: its result is in
 * this workflow's history, which is the item's checkpoint. A step that fails because the workers
 * cannot run any item (BLOCKING_FAILURE_TYPES) is not an item failure: the parent is told (it pauses
 * the batch) and the step runs again when the parent sends `retryItem` after a resume. Reports the outcome (succeeded, failed or
 * cancelled) to the parent by signal, then ends in the matching Temporal state (Completed, Failed,
 * Canceled) so the Web UI reads true.
 */
export async function itemWorkflow(input: ItemInput): Promise<ItemOutcome> {
  const { item, retry } = input;
  const started = workflowNow();
  const startedAt = workflowNowIso();
  const results: Record<string, StepResult> = {};
  const finish = (
    partial: Omit<ItemOutcome, 'index' | 'key' | 'latencyMs' | 'startedAt' | 'endedAt'>,
  ): ItemOutcome => ({
    index: item.index,
    key: item.key,
    latencyMs: workflowNow() - started,
    startedAt,
    endedAt: workflowNowIso(),
    ...partial,
  });

  let retryRequested = false;
  setHandler(
    retryItemSignal,
    () => {
      retryRequested = true;
    },
    { description: messageDescriptions.retryItem },
  );
  const parent = getExternalWorkflowHandle(input.parentWorkflowId);

  let outcome: ItemOutcome;
  let failure: unknown;
  let current: StepSpec | undefined;
  try {
    for (const step of input.steps) {
      current = step;
      const run = stepActivity(step, retry);
      for (;;) {
        try {
          results[step.name] = await run({
            batchId: input.batchId,
            item,
            step,
            pipeline: input.steps.length > 1,
            steps: { ...results },
            outputDir: input.outputDir,
            stopGraceMs: { ...retry, ...step.retry }.stopGraceMs,
          });
          break;
        } catch (err) {
          const blocked = blockingFailure(err);
          if (!blocked) throw err;
          retryRequested = false;
          await parent.signal(itemBlockedSignal, { key: item.key, ...blocked });
          await condition(() => retryRequested); // a cancellation ends the wait (and the item)
        }
      }
    }
    const all = Object.values(results);
    const last = all.at(-1);
    const costs = all.map((r) => r.cost).filter((c): c is number => c !== undefined);
    outcome = finish({
      status: 'succeeded',
      attempts: Math.max(...all.map((r) => r.attempt)),
      httpStatus: last?.httpStatus,
      cost: itemCost(item, input.cost, costs.length > 0 ? costs.reduce((a, b) => a + b, 0) : undefined),
      output: last?.output,
      steps:
        all.length > 1
          ? all.map((r) => ({ name: r.name, attempts: r.attempt, latencyMs: r.latencyMs }))
          : undefined,
    });
  } catch (err) {
    failure = err;
    const stepName = input.steps.length > 1 ? current?.name : undefined;
    if (isCancellation(err)) {
      outcome = finish({
        status: 'cancelled',
        attempts: 0,
        errorType: 'Cancelled',
        errorMessage: 'item cancelled',
        failedStep: stepName,
      });
    } else {
      const d = describeFailure(err, { ...retry, ...current?.retry }.maxAttempts);
      outcome = finish({
        status: 'failed',
        ...d,
        failedStep: stepName,
        errorMessage: stepName ? `step ${stepName}: ${d.errorMessage}` : d.errorMessage,
      });
    }
  }

  // Report even when this workflow is being cancelled: the parent's slot must be freed either way.
  await CancellationScope.nonCancellable(async () => {
    try {
      await parent.signal(itemCompletedSignal, outcome);
    } catch (err) {
      // The parent is gone (terminated or already closed); the item's own history still holds the outcome.
      log.warn('could not report outcome to parent', {
        batchId: input.batchId,
        itemKey: item.key,
        error: String(err),
      });
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

/** The error of a step that failed because the workers cannot run items at all, if it did. */
function blockingFailure(err: unknown): { errorType: string; errorMessage: string } | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || !BLOCKING_FAILURE_TYPES.includes(cause.type ?? '')) {
    return undefined;
  }
  return { errorType: cause.type!, errorMessage: cause.message.slice(0, MAX_MESSAGE) };
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

// Running one item's steps, shared by the item workflow (one child per item) and the page workflow
// (one child per N items). Each step is an activity (or, for short calls in page mode, a local
// activity) under the retry policy of workflows/step-retry.ts; a finished step's result is in history
// and never run again. Always returns an outcome: succeeded, failed, or cancelled (the caller decides what a
// cancellation means for its own workflow).
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import type { createActivities } from '../activities';
import { workflowNow, workflowNowIso } from './clock';
import { envRefsOf, MAX_MESSAGE, succeededFields } from './item-outcome';
import { messageExcerpt } from './excerpt';
import { FailureType } from './failure-types';
import {
  blockingFailure,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_STOP_GRACE_MS,
  stepRetry,
  temporalRetryPolicy,
} from './step-retry';
import type { CostPolicy, Item, ItemOutcome, ItemRetryPolicy, StepResult, StepSpec } from './types';

/** What every item of a batch runs with (part of both child workflows' input). */
export interface ItemRunSpec {
  batchId: string;
  /** One step (a single processor) or a pipeline, run in order. */
  steps: StepSpec[];
  retry: ItemRetryPolicy;
  cost?: CostPolicy;
  outputDir: string;
  /** Run steps as local activities (page mode with `--item-execution local`). */
  local?: boolean;
  /** Run the page's items inside runner activities (`--item-execution runner`, workflows/runner-protocol.ts). */
  runner?: boolean;
}

export interface ItemRunHooks {
  /**
   * A step failed because the workers cannot run any item (a module that does not import): tell the
   * parent and resolve when the step should run again. A cancellation while waiting ends the item.
   */
  blocked(errorType: string, errorMessage: string): Promise<void>;
}

function stepActivity(step: StepSpec, batchRetry: ItemRetryPolicy, local: boolean) {
  const retry = stepRetry(batchRetry, step);
  const retryPolicy = temporalRetryPolicy(retry);
  // Room for a cancelled attempt's stop grace, so it ends as cancelled, not timed out.
  const startToCloseTimeout = step.processor.timeoutMs + (retry.stopGraceMs ?? DEFAULT_STOP_GRACE_MS) + 5_000;
  if (local) {
    // No heartbeats for local activities: cancellation is best effort, a long back-off becomes a timer.
    return proxyLocalActivities<ReturnType<typeof createActivities>>({
      startToCloseTimeout,
      retry: retryPolicy,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      summary: `${step.name}: ${step.processor.type}`,
    }).processItem;
  }
  return proxyActivities<ReturnType<typeof createActivities>>({
    // Temporal owns retries; the activity itself never loops.
    startToCloseTimeout,
    // The activity heartbeats every second: a dead worker is noticed in seconds, not at the timeout.
    heartbeatTimeout: retry.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
    // A cancelled item ends only once its work has stopped (process group gone, request aborted,
    // module settled or abandoned): its slot is not freed while it still acts on the target.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: retryPolicy,
    summary: `${step.name}: ${step.processor.type}`,
  }).processItem;
}

/** Runs the item's steps in order; never throws (a cancellation becomes a `cancelled` outcome). */
export async function runItem(spec: ItemRunSpec, item: Item, hooks: ItemRunHooks): Promise<ItemOutcome> {
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

  let current: StepSpec | undefined;
  try {
    for (const step of spec.steps) {
      current = step;
      const run = stepActivity(step, spec.retry, spec.local ?? false);
      for (;;) {
        try {
          results[step.name] = await run({
            batchId: spec.batchId,
            item,
            step,
            pipeline: spec.steps.length > 1,
            steps: { ...results },
            // Every step's command inherits the worker's environment: the activity masks what any
            // step of the batch resolves, not only this one (a pipeline's other steps' references).
            ...(spec.steps.length > 1 ? { batchEnvRefs: envRefsOf(spec.steps) } : {}),
            outputDir: spec.outputDir,
            stopGraceMs: stepRetry(spec.retry, step).stopGraceMs,
          });
          break;
        } catch (err) {
          const blocked = blockingFailure(err, MAX_MESSAGE);
          if (!blocked) throw err;
          await hooks.blocked(blocked.errorType, blocked.errorMessage);
        }
      }
    }
    return finish(succeededFields(item, spec.cost, Object.values(results)));
  } catch (err) {
    const stepName = spec.steps.length > 1 ? current?.name : undefined;
    // A step whose attempt failed after the item was cancelled is not retried, and the item is
    // cancelled, not failed: its last error is only why that attempt ended.
    if (
      isCancellation(err) ||
      (err instanceof ActivityFailure && err.retryState === RetryState.CANCEL_REQUESTED)
    ) {
      return finish({
        status: 'cancelled',
        attempts: cancelledAttempts(err, Object.values(results)),
        errorType: FailureType.Cancelled,
        errorMessage: 'item cancelled',
        failedStep: stepName,
      });
    }
    const d = describeFailure(err, stepRetry(spec.retry, current).maxAttempts);
    return finish({
      status: 'failed',
      ...d,
      failedStep: stepName,
      errorMessage: stepName ? `step ${stepName}: ${d.errorMessage}` : d.errorMessage,
    });
  }
}

/**
 * Attempts a cancelled item made: the attempt its running step was on (the activity tells it in its
 * cancellation's details), or the most any finished step needed. 0 only when none had started.
 */
function cancelledAttempts(err: unknown, finished: StepResult[]): number {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const details =
    cause instanceof CancelledFailure ? (cause.details[0] as { attempt?: unknown } | undefined) : undefined;
  const running = typeof details?.attempt === 'number' ? details.attempt : 0;
  return Math.max(running, ...finished.map((r) => r.attempt));
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
    errorType = FailureType.Timeout;
  }
  if (attempts === 0) attempts = 1;
  // Reports show it in a cell and on one line: whitespace folded, cut at a word.
  const message = messageExcerpt(cause instanceof Error ? cause.message : String(cause), MAX_MESSAGE);
  return { attempts, errorType, errorMessage: message, httpStatus };
}

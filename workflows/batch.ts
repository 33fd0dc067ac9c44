import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  workflowInfo,
} from '@temporalio/workflow';
import { registerBatchHandlers } from './batch-handlers';
import { BatchState } from './batch-state';
import { BatchPresenter } from './batch-presenter';
import { progressOf } from './batch-progress';
import { wakeReason } from './batch-wake';
import type { BatchInput } from './batch-input';
import type { BatchProgress } from './types';
import { flushAuditQueue } from './batch-audit';
import { laneFor, type Gate } from './lanes';
import { writeFinalReport, writeResultPages } from './results-writer';
import { FailureType } from './failure-types';

export type { BatchInput };

/** How often in-flight children are checked for a workflow that closed without reporting (terminated). */
const CLOSED_CHECK_MS = 30_000;

/**
 * A batch: walks the staged source and keeps at most `concurrency` items in flight, in child
 * workflows started with ParentClosePolicy.ABANDON so they survive continue-as-new: one per item, or
 * one per page of items (workflows/lanes/). Children report every outcome to this workflow id.
 * Continues-as-new before history limits, carrying bounded state. Answers `progress`/`failures`
 * queries, `pause`/`resume` signals and the `setLimits`/`cancelItem` updates. Cancelling it cancels
 * every in-flight child, writes the report and ends Canceled; a failure-policy breach ends it Failed;
 * otherwise it returns the final progress with status `completed`, `partial_failure`, or `failed`
 * when items failed and none succeeded.
 */
export async function batchWorkflow(input: BatchInput): Promise<BatchProgress> {
  const state = new BatchState(input.batchId, input.source.total, input.limits, input.carried);
  const resultsPageSize = input.resultsPageSize ?? 200;
  const canAfter = input.continueAsNewAfterEvents ?? 8_000;
  const webUiUrl = input.webUiUrl ?? null;
  const progress = () =>
    progressOf(state, lane.running, input.outputDir, webUiUrl, lane.pauseUnacknowledged());
  const presenter = new BatchPresenter(progress);
  const lane = laneFor(input, state, () => presenter.refreshDetails());

  registerBatchHandlers({
    state,
    lane,
    source: input.source,
    resultsPageSize,
    progress,
    onChange: () => presenter.refreshDetails(),
    onStrayOutcome: (key) =>
      log.warn('ignored outcome of an item not in flight', { batchId: input.batchId, itemKey: key }),
  });

  const historyFull = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= canAfter;
  // A breached failure policy stops new starts at once, before the loop gets to end the batch.
  const gate: Gate = {
    open: () =>
      !state.ending &&
      !state.paused &&
      !state.walked &&
      state.failurePolicyBreach(input.failurePolicy) === undefined,
    historyFull,
  };
  const canStartMore = () => gate.open() && lane.usedSlots < state.limits.concurrency;
  /** Writes full result pages; `force` also the last partial one. */
  const flushResults = (force: boolean) =>
    writeResultPages(state, input, resultsPageSize, force, () => presenter.refresh());
  const flushAudit = () => flushAuditQueue(state, input.outputDir);
  void lane.watchUnreported(CLOSED_CHECK_MS);

  let cancelError: unknown;
  try {
    presenter.refresh();
    while (!(state.walked && lane.idle)) {
      await lane.fill(gate);
      if (historyFull()) {
        await lane.switchToSignals();
        await lane.pagesStarted();
        await flushResults(true);
        await flushAudit(); // entries queued after it are carried over
        await condition(allHandlersFinished);
        const carried = { ...state.toCarried(), ...lane.toCarried() };
        return await continueAsNew<typeof batchWorkflow>({ ...input, carried });
      }
      const breach = state.failurePolicyBreach(input.failurePolicy);
      if (breach) {
        state.beginEnding('failed', breach);
        break;
      }
      // After the window refilled: Current Details show the items just started, not the freed slots.
      presenter.refreshDetails();
      await condition(
        () =>
          wakeReason({
            state,
            lane,
            canStartMore: canStartMore(),
            failurePolicy: input.failurePolicy,
            resultsPageSize,
            shownStatus: presenter.reportedStatus,
          }) !== undefined,
      );
      await flushResults(false);
      await flushAudit();
      presenter.refresh();
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelError = err;
    state.beginEnding('cancelling', 'cancellation requested');
  }

  // Ending: cancel what still runs, write the report. Not cancellable, so a cancel request cannot
  // interrupt the cleanup it asked for.
  return await CancellationScope.nonCancellable(async () => {
    const policyBreached = state.ending?.status === 'failed';
    await lane.stopAll(input.cancelGraceMs ?? 60_000);
    const notStartedFrom = state.cancelNotStarted();
    // A batch whose items all failed still returns its progress rather than failing the workflow:
    // the commands it emits stay those of recorded histories, and only a policy breach ends it Failed.
    const final = state.end();
    await flushResults(true);
    const finalProgress = progress();
    const reportError = await writeFinalReport(
      state,
      {
        batchId: input.batchId,
        outputDir: input.outputDir,
        source: input.source,
        progress: finalProgress,
        resultsPages: state.resultsPage,
        notStartedFrom,
        stats: state.stats,
        failures: [...state.failures],
        resultsWorkbook: input.resultsWorkbook?.enabled ?? true,
        sheet: input.resultsWorkbook?.sheet,
        csvFormulas: input.csvFormulas,
      },
      () => presenter.refresh(),
    );
    if (reportError !== undefined) {
      // The batch ends all the same, and says its report is missing (status, watch, run).
      finalProgress.statusReason = state.amendEndingReason(`the report could not be written: ${reportError}`);
    }
    presenter.refresh();
    await condition(allHandlersFinished);
    await flushAudit();
    // Rethrowing the cancellation ends the workflow as Canceled (what the Web UI and CLI expect).
    if (final === 'cancelled') throw cancelError as Error;
    if (policyBreached) {
      throw ApplicationFailure.nonRetryable(
        `batch failed: ${state.ending?.reason ?? ''}`,
        FailureType.BatchFailed,
        finalProgress,
      );
    }
    return finalProgress;
  });
}

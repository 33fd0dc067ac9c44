import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
  allHandlersFinished,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { BatchState, type CarriedState } from './batch-state';
import { workflowNow, workflowNowIso } from './clock';
import { itemWorkflow } from './item';
import {
  failuresQuery,
  itemCompletedSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setLimitsUpdate,
  validateLimits,
  type SetLimitsInput,
} from './messages';
import { batchProgressKey, batchStatusKey, itemKeyKey, batchIdKey } from './search-attributes';
import type { BatchProgress, FailurePolicy, Item, ItemRetryPolicy, Limits, ProcessorSpec, StagedSourceRef } from './types';

export interface BatchInput {
  batchId: string;
  source: StagedSourceRef;
  processor: ProcessorSpec;
  limits: Limits;
  retry: ItemRetryPolicy;
  failurePolicy: FailurePolicy;
  outputDir: string;
  webUiUrl?: string;
  /** Items read per page activity (default 100); pages stay far below the payload limit. */
  pageSize?: number;
  /** Continue-as-new after this many history events even if the server has not suggested it (default 8,000). */
  continueAsNewAfterEvents?: number;
  /** Outcomes buffered before a results page is written (default 200). */
  resultsPageSize?: number;
  /** How long cancellation waits for in-flight children to stop (default 60 s). */
  cancelGraceMs?: number;
  /** State from the previous run; absent on the first run. */
  carried?: CarriedState;
}

const { readPage, writeResultsPage, writeReport } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumInterval: '30 seconds' },
});

/**
 * A batch: walks the staged source page by page and keeps at most `concurrency` item child
 * workflows in flight (`<batchId>/<itemKey>`, started with ParentClosePolicy.ABANDON so they survive
 * continue-as-new). Children report every outcome by signal to this workflow id. Continues-as-new
 * before history limits, carrying bounded state. Answers `progress`/`failures` queries, `pause`/
 * `resume` signals and the `setLimits` update. Cancelling it cancels every in-flight child, writes the
 * report and ends Canceled; a failure-policy breach ends it Failed; otherwise it returns the final
 * progress with status `completed` or `partial_failure`.
 */
export async function batchWorkflow(input: BatchInput): Promise<BatchProgress> {
  const state = new BatchState(input.batchId, input.source.total, input.limits, input.carried);
  const pageSize = input.pageSize ?? 100;
  const resultsPageSize = input.resultsPageSize ?? 200;
  const canAfter = input.continueAsNewAfterEvents ?? 8_000;
  const webUiUrl = input.webUiUrl ?? null;
  const buffer: Item[] = [];
  const starting = new Set<Promise<void>>();
  let nextStartAt = 0;
  let lastReportedPercent = -1;

  setHandler(itemCompletedSignal, (outcome) => {
    if (!state.applyOutcome(outcome)) {
      log.warn('ignored outcome of an item not in flight', { batchId: input.batchId, itemKey: outcome.key });
    }
  });
  setHandler(pauseSignal, (arg) => {
    state.paused = true;
    state.pauseReason = arg?.reason ?? 'paused by operator';
  });
  setHandler(resumeSignal, () => {
    state.paused = false;
    state.pauseReason = undefined;
  });
  setHandler(progressQuery, () => state.progress(input.outputDir, webUiUrl));
  setHandler(failuresQuery, () => [...state.failures]);
  setHandler(
    setLimitsUpdate,
    (req) => {
      state.limits = {
        concurrency: req.concurrency ?? state.limits.concurrency,
        rate: req.rate === undefined ? state.limits.rate : (req.rate ?? undefined),
      };
      return state.limits;
    },
    {
      validator: (req: SetLimitsInput) => {
        const problem = validateLimits(req);
        if (problem) throw new Error(problem);
      },
    },
  );

  const canStartMore = () =>
    !state.terminal && !state.paused && state.cursor < state.total && state.inFlight.size < state.limits.concurrency;
  const historyFull = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= canAfter;

  async function nextItem(): Promise<Item | undefined> {
    if (buffer.length === 0) {
      const page = await readPage({ source: input.source, offset: state.cursor, limit: pageSize });
      buffer.push(...page);
    }
    return buffer.shift();
  }

  function startItem(item: Item): void {
    const childId = `${input.batchId}/${item.key}`;
    state.inFlight.set(item.key, { key: item.key, index: item.index, childId, startedAt: workflowNowIso() });
    state.cursor = item.index + 1;
    const p = startChild(itemWorkflow, {
      workflowId: childId,
      args: [
        {
          batchId: input.batchId,
          parentWorkflowId: workflowInfo().workflowId,
          item,
          processor: input.processor,
          retry: input.retry,
          outputDir: input.outputDir,
        },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      typedSearchAttributes: [
        { key: batchIdKey, value: input.batchId },
        { key: itemKeyKey, value: item.key },
      ],
      staticSummary: `item ${item.key} of batch ${input.batchId}`,
    }).then(
      () => undefined,
      (err: unknown) => {
        // A child that cannot be started is a failed item, not a stuck slot.
        const now = workflowNowIso();
        state.applyOutcome({
          index: item.index,
          key: item.key,
          status: 'failed',
          attempts: 0,
          latencyMs: 0,
          startedAt: now,
          endedAt: now,
          errorType: 'ChildStartFailed',
          errorMessage: err instanceof Error ? err.message : String(err),
        });
      },
    );
    starting.add(p);
    void p.finally(() => starting.delete(p));
  }

  /** Starts as many items as the window and the rate allow; starts are issued together, not one by one. */
  async function fillWindow(): Promise<void> {
    while (canStartMore() && !historyFull()) {
      if (state.limits.rate) {
        const wait = nextStartAt - workflowNow();
        if (wait > 0) {
          await sleep(wait);
          continue; // limits, pause or cancel may have changed while waiting
        }
        nextStartAt = Math.max(nextStartAt, workflowNow()) + 1000 / state.limits.rate;
      }
      const item = await nextItem();
      if (!item) {
        // The staged source holds fewer items than its manifest said: stop rather than spin.
        throw ApplicationFailure.nonRetryable(`source ended at item ${state.cursor} of ${state.total}`, 'SourceTruncated');
      }
      startItem(item);
    }
  }

  async function flushResults(force: boolean): Promise<void> {
    while (state.unwrittenOutcomes.length >= (force ? 1 : resultsPageSize)) {
      const outcomes = state.unwrittenOutcomes.slice(0, resultsPageSize);
      await writeResultsPage({ outputDir: input.outputDir, batchId: input.batchId, page: state.resultsPage, outcomes });
      state.unwrittenOutcomes.splice(0, outcomes.length);
      state.resultsPage += 1;
    }
  }

  function reportSearchAttributes(force = false): void {
    const progress = state.progress(input.outputDir, webUiUrl);
    const percent = Math.floor(progress.percent);
    // Bounded: every 5% and on status changes, never per item.
    if (!force && percent - lastReportedPercent < 5) return;
    lastReportedPercent = percent;
    upsertSearchAttributes([
      { key: batchStatusKey, value: progress.status },
      { key: batchProgressKey, value: percent },
    ]);
  }

  let cancelError: unknown;
  try {
    if (state.runNumber === 1) reportSearchAttributes(true);
    while (!state.allDone) {
      await fillWindow();
      if (historyFull()) {
        await Promise.all([...starting]);
        await flushResults(true);
        await condition(allHandlersFinished);
        return await continueAsNew<typeof batchWorkflow>({ ...input, carried: state.toCarried() });
      }
      const policyBreach = state.failurePolicyBreach(input.failurePolicy);
      if (policyBreach) {
        state.terminal = { status: 'failed', reason: policyBreach };
        break;
      }
      const wasPaused = state.paused;
      await condition(
        () =>
          state.allDone ||
          canStartMore() ||
          state.unwrittenOutcomes.length >= resultsPageSize ||
          state.paused !== wasPaused ||
          state.failurePolicyBreach(input.failurePolicy) !== undefined,
      );
      if (state.paused !== wasPaused) reportSearchAttributes(true);
      await flushResults(false);
      reportSearchAttributes();
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelError = err;
    state.terminal = { status: 'cancelling', reason: 'cancellation requested' };
  }

  // Ending: cancel what is still running, write the report. Not cancellable, so a cancel request
  // cannot interrupt the cleanup it asked for.
  return await CancellationScope.nonCancellable(async () => {
    const ending = state.terminal?.status ?? 'completed';
    if (state.inFlight.size > 0) {
      await Promise.all([...starting]);
      await Promise.all(
        [...state.inFlight.values()].map((f) =>
          getExternalWorkflowHandle(f.childId)
            .cancel()
            .catch((e: unknown) => log.warn('cancel child failed', { batchId: input.batchId, itemKey: f.key, error: String(e) })),
        ),
      );
      await condition(() => state.inFlight.size === 0, input.cancelGraceMs ?? 60_000);
      for (const f of state.inFlight.values()) {
        state.applyOutcome({
          index: f.index, key: f.key, status: 'cancelled', attempts: 0, latencyMs: 0, startedAt: f.startedAt,
          endedAt: workflowNowIso(), errorType: 'Cancelled', errorMessage: 'did not confirm cancellation in time',
        });
      }
    }
    const final = ending === 'cancelling' ? 'cancelled' : ending === 'failed' ? 'failed' : state.counts.failed > 0 ? 'partial_failure' : 'completed';
    state.terminal = { status: final, reason: state.terminal?.reason };
    state.endedAt = workflowNowIso();
    await flushResults(true);
    const progress = state.progress(input.outputDir, webUiUrl);
    await writeReport({
      batchId: input.batchId, outputDir: input.outputDir, source: input.source, progress,
      resultsPages: state.resultsPage, notStartedFrom: state.cursor, stats: state.stats, failures: state.failures,
    });
    reportSearchAttributes(true);
    await condition(allHandlersFinished);
    // Rethrowing the cancellation ends the workflow as Canceled (what the Web UI and CLI expect).
    if (final === 'cancelled') throw cancelError;
    if (final === 'failed') {
      throw ApplicationFailure.nonRetryable(`batch failed: ${state.terminal.reason ?? ''}`, 'BatchFailed', progress);
    }
    return progress;
  });
}

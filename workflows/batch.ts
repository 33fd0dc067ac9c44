import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { readPage } from './activity-options';
import { ItemChildren } from './item-children';
import { PageChildren } from './page-children';
import { registerBatchHandlers } from './batch-handlers';
import { BatchState } from './batch-state';
import { workflowNow, workflowNowIso } from './clock';
import { BatchPresenter } from './batch-presenter';
import type { BatchInput } from './batch-input';
import type { BatchProgress, Item } from './types';
import { expectedCost } from './cost';
import { flushAuditQueue } from './batch-audit';
import { writeFinalReport, writeResultPages } from './results-writer';
import { unranOutcome } from './outcomes';
import { SOURCE_PAUSE_TYPES, FailureType } from './failure-types';

export type { BatchInput };

/** Starts issued in one go before waiting for them to be recorded: keeps each workflow task small. */
const MAX_STARTS_PER_TASK = 100;

/** How often in-flight items are checked for a workflow that closed without reporting (terminated). */
const CLOSED_CHECK_MS = 30_000;

/**
 * A batch: walks the staged source page by page and keeps at most `concurrency` item child
 * workflows in flight (`<batchId>/<itemKey>`, started with ParentClosePolicy.ABANDON so they survive
 * continue-as-new). Children report every outcome by signal to this workflow id. Continues-as-new
 * before history limits, carrying bounded state. Answers `progress`/`failures` queries, `pause`/
 * `resume` signals and the `setLimits`/`cancelItem` updates. Cancelling it cancels every in-flight
 * child, writes the report and ends Canceled; a failure-policy breach ends it Failed; otherwise it
 * returns the final progress with status `completed`, `partial_failure`, or `failed` when items
 * failed and none succeeded.
 */
export async function batchWorkflow(input: BatchInput): Promise<BatchProgress> {
  const state = new BatchState(input.batchId, input.source.total, input.limits, input.carried);
  const pageSize = input.pageSize ?? 100;
  const resultsPageSize = input.resultsPageSize ?? 200;
  const canAfter = input.continueAsNewAfterEvents ?? 8_000;
  const webUiUrl = input.webUiUrl ?? null;
  // What every item runs with, whether its child holds one item or a page of them.
  const itemSpec = {
    batchId: input.batchId,
    steps: input.steps,
    retry: input.retry,
    cost: input.cost,
    outputDir: input.outputDir,
    local: input.itemExecution === 'local',
  };
  // The message secret stays in this workflow's input (carried by continue-as-new with the rest of
  // it): children get only the token derived from it for their own id.
  const children = new ItemChildren(state, itemSpec, input.messageSecret);
  const pages =
    (input.itemsPerChild ?? 1) > 1
      ? new PageChildren(state, itemSpec, input.source, input.itemsPerChild!, input.messageSecret)
      : undefined;
  children.pages = pages;
  const buffer: Item[] = [];
  let nextStartAt = 0;
  const presenter = new BatchPresenter(state, input.outputDir, webUiUrl);
  children.onOutcome = () => presenter.refreshDetails();

  registerBatchHandlers({
    state,
    children,
    pages,
    source: input.source,
    outputDir: input.outputDir,
    webUiUrl,
    resultsPageSize,
    onChange: () => presenter.refreshDetails(),
    onStrayOutcome: (key) =>
      log.warn('ignored outcome of an item not in flight', { batchId: input.batchId, itemKey: key }),
  });

  // A breached failure policy stops new starts at once, before the loop gets to end the batch.
  const canStartStandby = () =>
    !state.ending &&
    !state.paused &&
    state.cursor < state.total &&
    state.failurePolicyBreach(input.failurePolicy) === undefined;
  const canStartMore = () => canStartStandby() && state.usedSlots < state.limits.concurrency;
  const historyFull = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= canAfter;

  /** The next item, or 'source-changed' when the original source was edited (the batch pauses). */
  async function nextItem(): Promise<Item | 'source-changed' | undefined> {
    if (buffer.length === 0) {
      try {
        buffer.push(
          ...(await readPage({
            batchId: input.batchId,
            source: input.source,
            offset: state.cursor,
            limit: pageSize,
          })),
        );
      } catch (err) {
        if (
          err instanceof ActivityFailure &&
          err.cause instanceof ApplicationFailure &&
          SOURCE_PAUSE_TYPES.includes(err.cause.type ?? '')
        ) {
          // Never mix two versions of the input, never fail items for a worker that cannot see the
          // files: stop starting items and say why; the operator fixes it and resumes, or cancels.
          state.paused = true;
          state.pauseReason = err.cause.message;
          const by = err.cause.type === FailureType.SourceChangedError ? 'source' : 'worker';
          state.audit({ action: 'pause', by, args: { reason: state.pauseReason } });
          return 'source-changed';
        }
        throw err;
      }
    }
    return buffer.shift();
  }

  /** Page mode: slots to the pages in flight first, then new pages for the free slots. */
  async function fillPages(pages: PageChildren): Promise<void> {
    await pages.rebalance();
    let issued = 0;
    while (canStartMore() && !historyFull()) {
      const count = Math.min(pages.itemsPerChild, state.total - state.cursor);
      const free = state.limits.concurrency - state.usedSlots;
      pages.start(state.cursor, count, Math.min(free, count, pages.slotCap(undefined, state.cursor + count)));
      state.cursor += count;
      if (++issued >= MAX_STARTS_PER_TASK) {
        await pages.allStarted();
        issued = 0;
      }
    }
    // Every slot is taken: the next page starts now with none, reads its items and waits, so slots
    // freed at the end of a page go to items ready to run, not to a page still starting.
    const full = state.usedSlots >= state.limits.concurrency;
    if (full && canStartStandby() && !historyFull() && !pages.hasStandby && pages.standbyAllowed()) {
      pages.start(state.cursor, Math.min(pages.itemsPerChild, state.total - state.cursor), 0);
      state.cursor = Math.min(state.total, state.cursor + pages.itemsPerChild);
    }
  }

  /** Starts as many items as the window and the rate allow. */
  async function fillWindow(): Promise<void> {
    if (pages) return fillPages(pages);
    let issued = 0;
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
      if (item === 'source-changed') return;
      if (!item) {
        // The staged source holds fewer items than its manifest said: stop rather than spin.
        throw ApplicationFailure.nonRetryable(
          `source ended at item ${state.cursor} of ${state.total}`,
          FailureType.SourceTruncated,
        );
      }
      const cost = item.invalid === undefined ? expectedCost(item, input.cost, state.stats) : 0;
      const budget = state.limits.budget;
      const cancelled = item.key in state.cancelledPending; // by an operator: already counted skipped
      if (budget !== undefined && !cancelled && state.committedCost + cost > budget) {
        // Stop before the item that would overspend; it starts first when the operator resumes.
        buffer.unshift(item);
        state.pauseForBudget(budget, { key: item.key, cost });
        return;
      }
      state.cursor = item.index + 1;
      if (cancelled) continue;
      if (item.invalid !== undefined) {
        // Rejected at staging (validation, parse error, size): reported, never sent to the target.
        state.record(unranOutcome(item, 'skipped', FailureType.InvalidItem, item.invalid));
        continue;
      }
      children.start(item, cost);
      if (++issued >= MAX_STARTS_PER_TASK) {
        await children.allStarted();
        issued = 0;
      }
    }
  }

  /** Writes full result pages; `force` also the last partial one. */
  const flushResults = (force: boolean) =>
    writeResultPages(state, input, resultsPageSize, force, () => presenter.refresh());

  const flushAudit = () => flushAuditQueue(state, input.outputDir);
  void children.watchUnreported(CLOSED_CHECK_MS);

  let cancelError: unknown;
  try {
    presenter.refresh();
    while (!state.allDone) {
      await fillWindow();
      if (historyFull()) {
        await children.switchToSignals();
        await pages?.allStarted();
        await flushResults(true);
        await flushAudit(); // entries queued after it are carried over
        await condition(allHandlersFinished);
        return await continueAsNew<typeof batchWorkflow>({ ...input, carried: state.toCarried() });
      }
      const breach = state.failurePolicyBreach(input.failurePolicy);
      if (breach) {
        state.ending = { status: 'failed', reason: breach };
        break;
      }
      // After the window refilled: Current Details show the items just started, not the freed slots.
      presenter.refreshDetails();
      await condition(
        () =>
          state.allDone ||
          canStartMore() ||
          state.unwrittenOutcomes.length >= resultsPageSize ||
          state.auditQueue.length > 0 ||
          (pages?.controlsPending ?? false) ||
          state.currentStatus() !== presenter.reportedStatus ||
          state.failurePolicyBreach(input.failurePolicy) !== undefined,
      );
      await flushResults(false);
      await flushAudit();
      presenter.refresh();
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelError = err;
    state.ending = { status: 'cancelling', reason: 'cancellation requested' };
    state.audit({ action: 'cancel', sender: { kind: 'cancel' } });
  }

  // Ending: cancel what still runs, write the report. Not cancellable, so a cancel request cannot
  // interrupt the cleanup it asked for.
  return await CancellationScope.nonCancellable(async () => {
    const endedBy = state.ending?.status;
    await children.stopAll(input.cancelGraceMs ?? 60_000);
    const notStartedFrom = state.cancelNotStarted();
    // Items failed and none succeeded: nothing of what was asked happened, so the batch failed (not a
    // partial failure). It still returns its progress rather than failing the workflow: the commands
    // it emits stay those of recorded histories, and only a policy breach ends it Failed.
    const nothingSucceeded = state.counts.failed > 0 && state.counts.succeeded === 0;
    const final =
      endedBy === 'cancelling'
        ? 'cancelled'
        : endedBy === 'failed' || nothingSucceeded
          ? 'failed'
          : state.counts.failed > 0
            ? 'partial_failure'
            : 'completed';
    state.ending = {
      status: final,
      reason:
        state.ending?.reason ??
        (nothingSucceeded && endedBy !== 'cancelling'
          ? `no item succeeded: ${state.counts.failed} failed`
          : undefined),
    };
    state.endedAt = workflowNowIso();
    await flushResults(true);
    const progress = state.progress(input.outputDir, webUiUrl);
    const reportError = await writeFinalReport(
      state,
      {
        batchId: input.batchId,
        outputDir: input.outputDir,
        source: input.source,
        progress,
        resultsPages: state.resultsPage,
        notStartedFrom,
        stats: state.stats,
        failures: state.failures,
        resultsWorkbook: input.resultsWorkbook?.enabled ?? true,
        sheet: input.resultsWorkbook?.sheet,
        csvFormulas: input.csvFormulas,
      },
      () => presenter.refresh(),
    );
    if (reportError !== undefined) {
      // The batch ends all the same, and says its report is missing (status, watch, run).
      const reason = `the report could not be written: ${reportError}`;
      state.ending = {
        status: final,
        reason: state.ending.reason ? `${state.ending.reason}; ${reason}` : reason,
      };
      progress.statusReason = state.ending.reason;
    }
    presenter.refresh();
    await condition(allHandlersFinished);
    await flushAudit();
    // Rethrowing the cancellation ends the workflow as Canceled (what the Web UI and CLI expect).
    if (final === 'cancelled') throw cancelError as Error;
    if (endedBy === 'failed') {
      throw ApplicationFailure.nonRetryable(
        `batch failed: ${state.ending.reason ?? ''}`,
        FailureType.BatchFailed,
        progress,
      );
    }
    return progress;
  });
}

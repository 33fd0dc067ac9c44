import { ApplicationFailure, CancellationScope, log } from '@temporalio/workflow';
import { runItem, type ItemRunSpec } from './item-run';
import { itemCompletedSignal } from './messages';
import { ParentLink } from './parent-link';
import type { Item, ItemOutcome } from './types';
import { FailureType } from './failure-types';

export interface ItemInput extends ItemRunSpec {
  /** The parent's workflow id (no run id: the signal must reach whichever run is current). */
  parentWorkflowId: string;
  item: Item;
  /**
   * How the outcome reaches the parent: `result` — the parent run that started this child awaits its
   * result (no signal: 5 history events fewer per item), unless it sends `reportBySignal` before it
   * continues-as-new; `signal` (default, and for inputs from before this field) — always by signal.
   */
  report?: 'result' | 'signal';
  /**
   * Sent with every report to the parent: the parent takes reports about this item only with it
   * (absent: a child started before tokens, recognised by its key).
   */
  reportToken?: string;
}

/**
 * One item of a batch. Runs the item's steps in order, each an activity under its own retry policy;
 * a later step can use earlier steps' results. A finished step is never run again: its result is in
 * this workflow's history, which is the item's checkpoint. A step that fails because the workers
 * cannot run any item (BLOCKING_FAILURE_TYPES) is not an item failure: the parent is told (it pauses
 * the batch) and the step runs again when the parent sends `retryItem` after a resume. Ends in the
 * Temporal state that matches the outcome (Completed, Failed, Canceled) so the Web UI reads true; the
 * result, or the failure's details, is the outcome. The parent learns the outcome from that result
 * (`report: 'result'`), or by an `itemCompleted` signal to its workflow id: always when cancelled (a
 * cancelled workflow's result carries no details), and whenever `report` is `signal` or the parent
 * sent `reportBySignal` because it is continuing-as-new.
 */
export async function itemWorkflow(input: ItemInput): Promise<ItemOutcome> {
  const { item } = input;
  let bySignal = input.report !== 'result';
  // Only the parent knows this child's token: a message forged by another client is ignored.
  const parent = new ParentLink(input, 'item', { batchId: input.batchId, itemKey: item.key });
  parent.handle('reportBySignal', () => {
    bySignal = true;
  });

  // A cancellation of this workflow cancels the running step; runItem turns it into the outcome.
  let cancellation: unknown;
  const outcome = await runItem(input, item, {
    blocked: (errorType, errorMessage) => parent.waitForRetry(item.key, errorType, errorMessage),
  });
  if (outcome.status === 'cancelled') {
    cancellation = CancellationScope.current().consideredCancelled
      ? await CancellationScope.current().cancelRequested.catch((e: unknown) => e)
      : undefined;
  }

  // Report even when this workflow is being cancelled: the parent's slot must be freed either way.
  // A signal that arrives while this workflow completes fails that workflow task, so `bySignal` is
  // final here: a parent that asked for a signal gets one.
  if (bySignal || outcome.status === 'cancelled')
    await CancellationScope.nonCancellable(async () => {
      try {
        await parent.report(itemCompletedSignal, outcome);
      } catch (err) {
        // The parent is gone (terminated or already closed); the item's own history still holds the outcome.
        log.warn('could not report outcome to parent', {
          batchId: input.batchId,
          itemKey: item.key,
          error: String(err),
        });
      }
    });

  // End in the Temporal state that matches the outcome, so the Web UI reads true.
  if (cancellation !== undefined) throw cancellation as Error;
  if (outcome.status === 'failed') {
    throw ApplicationFailure.nonRetryable(
      `item ${item.key} failed: ${outcome.errorMessage ?? ''}`,
      outcome.errorType ?? FailureType.ItemFailed,
      outcome,
    );
  }
  return outcome;
}

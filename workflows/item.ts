import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  log,
  setHandler,
} from '@temporalio/workflow';
import { runItem, type ItemRunSpec } from './item-run';
import { itemBlockedSignal, itemCompletedSignal, messageDescriptions, retryItemSignal } from './messages';
import type { Item, ItemOutcome } from './types';

export interface ItemInput extends ItemRunSpec {
  /** The parent's workflow id (no run id: the signal must reach whichever run is current). */
  parentWorkflowId: string;
  item: Item;
}

/**
 * One item of a batch. Runs the item's steps in order, each an activity under its own retry policy;
 * a later step can use earlier steps' results. A finished step is never run again: its result is in
 * this workflow's history, which is the item's checkpoint. A step that fails because the workers
 * cannot run any item (BLOCKING_FAILURE_TYPES) is not an item failure: the parent is told (it pauses
 * the batch) and the step runs again when the parent sends `retryItem` after a resume. Reports the
 * outcome (succeeded, failed or cancelled) to the parent by signal, then ends in the matching
 * Temporal state (Completed, Failed, Canceled) so the Web UI reads true.
 */
export async function itemWorkflow(input: ItemInput): Promise<ItemOutcome> {
  const { item } = input;
  let retryRequested = false;
  setHandler(
    retryItemSignal,
    () => {
      retryRequested = true;
    },
    { description: messageDescriptions.retryItem },
  );
  const parent = getExternalWorkflowHandle(input.parentWorkflowId);

  // A cancellation of this workflow cancels the running step; runItem turns it into the outcome.
  let cancellation: unknown;
  const outcome = await runItem(input, item, {
    async blocked(errorType, errorMessage) {
      retryRequested = false;
      await parent.signal(itemBlockedSignal, { key: item.key, errorType, errorMessage });
      await condition(() => retryRequested); // a cancellation ends the wait (and the item)
    },
  });
  if (outcome.status === 'cancelled') {
    cancellation = CancellationScope.current().consideredCancelled
      ? await CancellationScope.current().cancelRequested.catch((e: unknown) => e)
      : undefined;
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

  // End in the Temporal state that matches the outcome, so the Web UI reads true.
  if (cancellation !== undefined) throw cancellation as Error;
  if (outcome.status === 'failed') {
    throw ApplicationFailure.nonRetryable(
      `item ${item.key} failed: ${outcome.errorMessage ?? ''}`,
      outcome.errorType ?? 'ItemFailed',
      outcome,
    );
  }
  return outcome;
}

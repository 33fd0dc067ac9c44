// Failure types that change how the engine behaves (not just how an outcome is labelled). Shared by
// workflows and activities; the workflow sandbox imports it, so it holds plain constants only.

/**
 * The worker cannot run any item, through no fault of the item: a `--module` that does not import,
 * or storage this worker does not share with the one that started the batch.
 * Failing every item for it would burn the batch; instead the item waits, the batch pauses with the
 * error as its reason, and `resume` (after the operator fixed the workers) runs the item's step again.
 */
export const BLOCKING_FAILURE_TYPES: readonly string[] = ['ModuleLoadError', 'SharedStorageError'];

/** Failures of reading the source that pause the batch with their message (never retried as such). */
export const SOURCE_PAUSE_TYPES: readonly string[] = ['SourceChangedError', 'SharedStorageError'];

/** An item workflow that closed without reporting its outcome (terminated, timed out). */
export const ITEM_WORKFLOW_CLOSED = 'ItemWorkflowClosed';

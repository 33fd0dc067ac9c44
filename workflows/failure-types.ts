// Failure types that change how the engine behaves (not just how an outcome is labelled). Shared by
// workflows and activities; the workflow sandbox imports it, so it holds plain constants only.

/**
 * Every failure type durabatch records or throws: the `errorType` of item outcomes, the type of
 * ApplicationFailures, the reports' and verify's vocabulary. One place, so a rename cannot miss a
 * reader. Error classes in src/errors.ts carry the same names.
 */
export const FailureType = {
  /** Rejected at staging (validation, parse error, size): skipped, never sent. */
  InvalidItem: 'InvalidItem',
  /** The item's (or page's) child workflow could not be started. */
  ChildStartFailed: 'ChildStartFailed',
  /** Cancelled while running (operator, batch cancel or fail-fast). */
  Cancelled: 'Cancelled',
  /** Cancelled by an operator before it started: skipped. */
  CancelledBeforeStart: 'CancelledBeforeStart',
  /** The batch ended (cancelled or failed) before this item started. */
  NotStarted: 'NotStarted',
  /** The item's workflow closed without an outcome (terminated, timed out). */
  ItemWorkflowClosed: 'ItemWorkflowClosed',
  /** A --module that does not import: the batch pauses (blocking). */
  ModuleLoadError: 'ModuleLoadError',
  /** The source changed since it was staged: the batch pauses. */
  SourceChangedError: 'SourceChangedError',
  /** A worker cannot see the batch's files: the batch pauses (blocking). */
  SharedStorageError: 'SharedStorageError',
  /** The target answered in a way retrying cannot fix (4xx other than 408/429). */
  PermanentTargetError: 'PermanentTargetError',
  /** The target failed in a way that may pass on retry (network, 408, 429, 5xx). */
  TransientTargetError: 'TransientTargetError',
  /** A successful http answer's body went past http.maxResponseBytes (not retried: the call took effect). */
  ResponseTooLarge: 'ResponseTooLarge',
  /** A command ran past its timeout and was killed. */
  CommandTimeout: 'CommandTimeout',
  /** A command exited with a failing code. */
  CommandFailed: 'CommandFailed',
  /** An item failed with no more specific type. */
  ItemFailed: 'ItemFailed',
  /** The batch ended failed (its failure policy was breached). */
  BatchFailed: 'BatchFailed',
  /** The staged source holds fewer items than its manifest says. */
  SourceTruncated: 'SourceTruncated',
  /** A setting or template that fails the same way on every attempt. */
  InputError: 'InputError',
  /** The item's file changed while it was being uploaded (retried). */
  FileChanged: 'FileChanged',
  /** cancelItem of an item that has already finished. */
  ItemFinished: 'ItemFinished',
  /** The worker's allow-list does not cover the step's program, module or origin: nothing ran. */
  ProcessorNotAllowed: 'ProcessorNotAllowed',
  /**
   * The batch's output directory or staged source lies outside the worker's storage roots
   * (`allow.paths`): nothing was read or written; the batch pauses (blocking).
   */
  StoragePathNotAllowed: 'StoragePathNotAllowed',
  /** An attempt ran past its timeout. */
  Timeout: 'Timeout',
  /** A result file cannot be written (disk full, read-only, unwritable): the batch pauses. */
  OutputStorageError: 'OutputStorageError',
  /** The results workbook could not be built (the report's core files are written all the same). */
  WorkbookFailed: 'WorkbookFailed',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/**
 * The worker cannot run any item, through no fault of the item: a `--module` that does not import,
 * or storage this worker does not share with the one that started the batch.
 * Failing every item for it would burn the batch; instead the item waits, the batch pauses with the
 * error as its reason, and `resume` (after the operator fixed the workers) runs the item's step again.
 */
export const BLOCKING_FAILURE_TYPES: readonly string[] = [
  FailureType.ModuleLoadError,
  FailureType.SharedStorageError,
  FailureType.StoragePathNotAllowed,
];

/** Failures of reading the source that pause the batch with their message (never retried as such). */
export const SOURCE_PAUSE_TYPES: readonly string[] = [
  FailureType.SourceChangedError,
  FailureType.SharedStorageError,
  FailureType.StoragePathNotAllowed,
];

/** An item workflow that closed without reporting its outcome (terminated, timed out). */
export const ITEM_WORKFLOW_CLOSED = FailureType.ItemWorkflowClosed;

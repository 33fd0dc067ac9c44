// durabatch's error classes. Each has an explicit `name` (it becomes the Temporal failure type when
// thrown from an activity) and says what happened, why, and how to fix it.

/** Bad input from the user: flags, config, source files. CLI exit code 2. */
export class InputError extends Error {
  override name = 'InputError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(hint ? `${message}\n  fix: ${hint}` : message);
  }
}

/** No batch with this id on the server answering (CLI exit code 2, as an input error). */
export class BatchNotFoundError extends InputError {
  override name = 'BatchNotFoundError';
  constructor(readonly batchId: string) {
    super(`no batch with id "${batchId}"`, 'see `durabatch list`');
  }
}

/** The staged source no longer matches what the batch started with. Never retried. */
export class SourceChangedError extends Error {
  override name = 'SourceChangedError';
}

/** The target answered in a way that retrying cannot fix (4xx other than 408/429). */
export class PermanentTargetError extends Error {
  override name = 'PermanentTargetError';
}

/** The target failed in a way that may pass on retry (network, 408, 429, 5xx). */
export class TransientTargetError extends Error {
  override name = 'TransientTargetError';
}

/** No Temporal server could be reached or started. */
export class ServerUnavailableError extends Error {
  override name = 'ServerUnavailableError';
}

/** Error types the item retry policy never retries. */
export const NON_RETRYABLE_ERROR_TYPES = ['PermanentTargetError', 'SourceChangedError', 'InputError'];

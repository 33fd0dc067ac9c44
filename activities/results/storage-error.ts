// A result file that cannot be written because of where it goes (a full disk, a read-only or
// unwritable output, a path whose folder is a file) fails the same way on every attempt until
// someone frees space or fixes the folder: retrying it for ever looked like a running batch. It is
// raised as a non-retryable OutputStorageError naming the path and errno; the batch workflow
// pauses with it as its reason (workflows/results-writer.ts) and `durabatch resume` tries again.
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../workflows/failure-types';

/** errno codes that no retry fixes by itself: they need the operator. */
const STORAGE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EISDIR']);

/** Whether `err` is a file-system error of the output's storage (full, read-only, unwritable). */
export function isStorageError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && STORAGE_CODES.has((err as NodeJS.ErrnoException).code ?? '');
}

const WHY: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a folder on the path is a file',
  EISDIR: 'the path is a folder',
};

/**
 * `err` as the failure the workflow pauses on, when it is a storage error; otherwise `err` itself.
 * `what` names the file being written (`result page 3`, `the report`).
 */
export function storageFailure(err: unknown, what: string, batchId: string): unknown {
  if (!isStorageError(err)) return err;
  const code = err.code!;
  const where = err.path ?? '(unknown path)';
  return ApplicationFailure.nonRetryable(
    `cannot write ${what}: ${code} (${WHY[code] ?? err.message}) at ${where}; ` +
      `free space or make the output directory writable, then \`durabatch resume ${batchId}\``,
    FailureType.OutputStorageError,
  );
}

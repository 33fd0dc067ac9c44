// Where this worker agrees to read and write a batch's files. A workflow input names the batch's
// output directory and its staged source's directory, and whoever can start a workflow on the task
// queue writes it: without this check a forged batch makes the worker write result files, logs and
// documents anywhere it can write (/etc/cron.d, ~/.ssh) or read a "staged source" from any folder.
// Both must resolve, symlinks included, inside one of the worker's storage roots (`allow.paths`,
// plus DURABATCH_HOME and the default output root), before anything is read or written.
import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../workflows/failure-types';
import { storagePathProblem } from '../src/home/storage-paths';

export { storagePathProblem };

/** The setting that extends the roots, for messages. */
export const PATHS_SETTING = 'allow.paths (DURABATCH_ALLOW_PATHS, `durabatch worker --allow-path`)';

/**
 * Throws a non-retryable StoragePathNotAllowed failure when `dir` (the batch's `what`: "output
 * directory", "staged source") lies outside `roots`. The batch pauses with its message: every item
 * would fail the same way, and an operator who meant the path adds it and resumes.
 */
export async function assertStoragePath(
  what: string,
  dir: string,
  roots: readonly string[],
  batchId?: string,
): Promise<void> {
  const problem = await storagePathProblem(dir, roots);
  if (problem === undefined) return;
  // The fix comes before the list of roots: a batch's pause reason keeps the first 500 characters.
  const listed = roots.length === 0 ? 'none' : roots.join(', ');
  throw ApplicationFailure.nonRetryable(
    `this worker does not read or write the batch's ${what} ${JSON.stringify(dir)}: it ${problem}. ` +
      `If the batch is yours, add the directory to ${PATHS_SETTING}, then ` +
      `\`durabatch resume ${batchId ?? '<batch id>'}\`. This worker's roots: ${listed}`,
    FailureType.StoragePathNotAllowed,
  );
}

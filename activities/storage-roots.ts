// Where this worker agrees to read and write a batch's files. A workflow input names the batch's
// output directory and its staged source's directory, and whoever can start a workflow on the task
// queue writes it: without this check a forged batch makes the worker write result files, logs and
// documents anywhere it can write (/etc/cron.d, ~/.ssh) or read a "staged source" from any folder.
// Both must resolve, symlinks included, inside one of the worker's storage roots (`allow.paths`,
// plus DURABATCH_HOME and the default output root), before anything is read or written.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../workflows/failure-types';
import { ANY } from '../src/worker/allow-settings';

/** The setting that extends the roots, for messages. */
export const PATHS_SETTING = 'allow.paths (DURABATCH_ALLOW_PATHS, `durabatch worker --allow-path`)';

/**
 * The real path of `p`: its nearest existing ancestor resolved (symlinks followed), the rest
 * appended. A path not created yet (an output directory made by a later write) still resolves to
 * where its writes would land.
 */
async function realPathOf(p: string): Promise<string> {
  let head = p;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(head), ...tail);
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return p;
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
}

const inside = (dir: string, root: string) => {
  const rel = path.relative(root, dir);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/**
 * Why `dir` is refused, or undefined when it lies inside one of `roots`. Refused: a relative path
 * (it would depend on the worker's working directory), a `..` segment (the lexical and the real
 * path would differ through a symlink) and anything whose real path is outside every root's.
 */
export async function storagePathProblem(dir: string, roots: readonly string[]): Promise<string | undefined> {
  if (roots.includes(ANY)) return undefined;
  if (typeof dir !== 'string' || dir === '' || dir.includes('\0')) return 'is not a path';
  if (!path.isAbsolute(dir)) return 'is not an absolute path';
  if (dir.split(/[\\/]/).includes('..')) return 'climbs with ".."';
  const real = await realPathOf(dir);
  for (const root of roots) {
    if (inside(real, await realPathOf(path.resolve(root)))) return undefined;
  }
  return real === path.resolve(dir)
    ? "is outside this worker's storage roots"
    : `resolves to ${real}, outside this worker's storage roots`;
}

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

// Workers on several machines must see the batch's files at the same paths: the staged source under
// DURABATCH_HOME and the output directory, both recorded in the batch's input when it starts (the
// client creates the output directory then). A worker that cannot see one of them must say so, naming
// the path, instead of failing items with ENOENT or — worse — writing results into a directory of
// its own that nobody reads. Checked before any activity reads or writes them: one stat per path,
// every time (a volume can be unmounted while a batch runs).
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SharedStorageError } from '../errors';

export interface BatchStorage {
  batchId?: string;
  /** The staged source's directory (`DURABATCH_HOME/staged/<fingerprint>`). */
  stagedDir?: string;
  /** The batch's output directory. */
  outputDir?: string;
}

async function exists(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

/** Throws SharedStorageError for the first of the batch's directories this worker cannot see. */
export async function assertBatchStorage(storage: BatchStorage): Promise<void> {
  const wanted: [string, string][] = [];
  if (storage.stagedDir) wanted.push(['staged source', path.resolve(storage.stagedDir)]);
  if (storage.outputDir) wanted.push(['output directory', path.resolve(storage.outputDir)]);
  for (const [what, dir] of wanted) {
    if (!(await exists(dir))) throw sharedStorageError(what, dir, storage.batchId);
  }
}

export function sharedStorageError(what: string, dir: string, batchId?: string): SharedStorageError {
  const resume = batchId ? `\`durabatch resume ${batchId}\`` : '`durabatch resume <batch id>`';
  return new SharedStorageError(
    `this worker (${os.hostname()}, pid ${process.pid}) cannot see the batch's ${what} at ${dir}. ` +
      'Every worker must see DURABATCH_HOME and the output directory at the same paths as the machine ' +
      'that started the batch (one shared volume, mounted at the same place everywhere; see ' +
      `docs/deployment.md, "Shared storage"). Mount it on this worker or stop this worker, then ${resume}.`,
  );
}

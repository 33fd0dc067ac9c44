// The defaults every process agrees on. Kept free of imports so the CLI can name them in its help
// without loading the Temporal SDK.
import path from 'node:path';

/** The task queue batches run on unless `--task-queue` / `taskQueue` says otherwise. */
export const DEFAULT_TASK_QUEUE = 'durabatch';

/** DURABATCH_HOME (default `.durabatch` in the working directory): embedded server, caches, run records. */
export const homeDir = (): string => path.resolve(process.env.DURABATCH_HOME ?? '.durabatch');

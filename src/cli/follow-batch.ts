// Shared plumbing of the commands on existing batches: connect to the server (never starting one,
// since a batch lives only on a server that already exists), and the `run`-like mode that runs a
// worker in this process and follows a batch to its end with live progress.
import path from 'node:path';
import { BatchClient } from '../client/batch-client';
import { createLogger } from '../logging/logger';
import type { LogLevels } from '../logging/levels';
import { openEnvironment, type Environment } from '../runtime/environment';
import { createBatchWorker, DEFAULT_TASK_QUEUE } from '../worker/worker';
import { exitCodeFor, followBatch } from './follow';
import { ProgressView, summaryBlock } from './progress-view';

export const homeDir = () => path.resolve(process.env.DURABATCH_HOME ?? '.durabatch');

const say = (msg: string) => process.stderr.write(`${msg}\n`);

/** Runs `fn` with a client of the server that answers; the connection is closed afterwards. */
export async function withBatchClient<T>(
  fn: (client: BatchClient, env: Environment) => Promise<T>,
  opts: { taskQueue?: string; allowEmbedded?: boolean } = {},
): Promise<T> {
  const home = homeDir();
  const env = await openEnvironment({ home, allowEmbedded: opts.allowEmbedded ?? false, log: say });
  try {
    const client = new BatchClient(env.client, {
      namespace: env.namespace,
      taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
      home,
      webUiBase: env.webUiBase,
    });
    return await fn(client, env);
  } finally {
    await env.close();
  }
}

export interface FollowWithWorkerOptions {
  /** Task queue the batch runs on (this process's worker polls it), or how to find it once connected. */
  taskQueue: string | ((client: BatchClient) => Promise<string>);
  /** Where the in-process worker writes its logs (the batch's output directory); read once the task queue is known. */
  outputDir: string | (() => string);
  /** Run a worker in this process (false: rely on `durabatch worker` processes). */
  worker: boolean;
  json?: boolean;
  /** Starts the batch on `taskQueue` once the server and the worker are up; returns its id. */
  start: (client: BatchClient, taskQueue: string) => Promise<string>;
  /** DURABATCH_HOME (default from the environment). */
  home?: string;
  logLevel?: string;
  logLevels?: LogLevels;
}

/**
 * What `run` does after staging: a server (the embedded one if none answers), a worker in this
 * process, the batch started, live progress to the end, the summary, and the exit code. Ctrl-C
 * stops only this process's worker: the batch is durable and resumes when a worker runs again.
 */
export async function followWithWorker(opts: FollowWithWorkerOptions): Promise<void> {
  const home = opts.home ?? homeDir();
  const env = await openEnvironment({ home, log: say });
  const cleanups: (() => Promise<void>)[] = [() => env.close()];
  const cleanup = async () => {
    for (let fn = cleanups.pop(); fn; fn = cleanups.pop()) await fn().catch(() => undefined);
  };
  const onSignal = () => {
    say('\ninterrupted: stopping the worker; the batch is durable and resumes when a worker runs again');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const ui = env.webUiBase ? `, Web UI ${env.webUiBase}` : '';
    say(`Temporal server ${env.address}${env.embedded ? ' (embedded)' : ''}${ui}`);
    const connected = new BatchClient(env.client, {
      namespace: env.namespace,
      taskQueue: DEFAULT_TASK_QUEUE,
      home,
      webUiBase: env.webUiBase,
    });
    const taskQueue = typeof opts.taskQueue === 'string' ? opts.taskQueue : await opts.taskQueue(connected);
    if (opts.worker) {
      const outputDir = typeof opts.outputDir === 'string' ? opts.outputDir : opts.outputDir();
      const level = opts.logLevel ?? process.env.DURABATCH_LOG_LEVEL ?? 'info';
      const file = path.resolve(outputDir, 'logs', 'worker.jsonl');
      const logger = createLogger({ level, terminalLevel: 'warn', file });
      const worker = await createBatchWorker({
        connectionOptions: env.connectionOptions,
        namespace: env.namespace,
        taskQueue,
        home,
        logger,
        runtimeLogger: createLogger({ level, file, terminal: false }),
        logLevels: opts.logLevels,
      });
      const running = worker.run();
      cleanups.push(() => worker.shutdown());
      void running.catch((err: unknown) => say(`worker stopped: ${String(err)}`));
    }
    const client = new BatchClient(env.client, {
      namespace: env.namespace,
      taskQueue,
      home,
      webUiBase: env.webUiBase,
    });
    const batchId = await opts.start(client, taskQueue);
    const final = await followBatch(client, batchId, new ProgressView());
    say(summaryBlock(final));
    if (opts.json) process.stdout.write(JSON.stringify(final, null, 2) + '\n');
    process.exitCode = exitCodeFor(final);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

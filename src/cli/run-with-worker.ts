// The `run`-like mode: a server (the embedded one if none answers), a worker in this process, and
// a batch followed to its end with live progress. Loaded only by the commands that run a worker.
import path from 'node:path';
import type { BatchProgress } from '../../workflows/types';
import type { BatchClient } from '../client/batch-client';
import { createLogger } from '../logging/logger';
import type { LogLevels } from '../logging/levels';
import { DEFAULT_TASK_QUEUE, homeDir } from '../home/defaults';
import { openEnvironment } from '../server/environment';
import { RetryTracker } from '../worker/retry-tracker';
import { createBatchWorker } from '../worker/worker';
import { allowListForBatch } from '../worker/allow-settings';
import type { AllowSettings } from '../config/allow';
import type { StepSpec } from '../../workflows/types';
import { batchClientOf, say } from './batch-connection';
import { checkReport, exitCodeWithReport, followBatch } from './follow-progress';
import { ProgressView, summaryBlock } from './progress-view';

/** What a command decides once connected: where its batch runs and how to start (or resume) it. */
export interface RunPlan {
  /** Task queue the batch runs on (this process's worker polls it). */
  taskQueue: string;
  /** The batch's output directory: the in-process worker writes its logs under it. */
  outputDir: string;
  /** Starts (or picks up) the batch once the worker is up; returns its id. */
  start: (client: BatchClient) => Promise<string>;
  /** The batch's steps: the in-process worker runs their processors exactly as given. */
  steps?: readonly StepSpec[];
  /** Told the batch's final progress once it has ended (the run record marks it finished). */
  ended?: (final: BatchProgress) => Promise<void>;
}

export interface FollowWithWorkerOptions {
  /** Called once connected (a client on the default task queue), before the worker starts. */
  plan: (client: BatchClient) => Promise<RunPlan>;
  /** Run a worker in this process (false: rely on `durabatch worker` processes). */
  worker: boolean;
  json?: boolean;
  /** DURABATCH_HOME (default from the environment). */
  home?: string;
  logLevel?: string;
  logLevels?: LogLevels;
  /** The worker's own allow-list settings (config `allow`), besides the batch's own processors. */
  allow?: AllowSettings;
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
    const connected = await batchClientOf(env, home, DEFAULT_TASK_QUEUE);
    const { taskQueue, outputDir, start, steps, ended } = await opts.plan(connected);
    const retries = new RetryTracker();
    if (opts.worker) {
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
        retryTracker: retries,
        // Its own batch's processors, exactly as given, are what the user asked for; anything else on
        // the shared task queue (same program, other arguments included) runs only as far as the
        // configured allow-list says. Its files: its home and its batch's output directory.
        allow: allowListForBatch(opts.allow, steps, { home, outputDir }),
      });
      const running = worker.run();
      cleanups.push(() => worker.shutdown());
      void running.catch((err: unknown) => say(`worker stopped: ${String(err)}`));
    }
    const client = await batchClientOf(env, home, taskQueue);
    const batchId = await start(client);
    const view = new ProgressView(process.stderr, undefined, (id) => retries.count(id));
    const final = await followBatch(client, batchId, view, { stallGraceMs: opts.worker ? 10_000 : 0 });
    await ended?.(final);
    const report = await checkReport(final);
    say(summaryBlock(final, report.lines));
    if (opts.json) process.stdout.write(JSON.stringify(final, null, 2) + '\n');
    process.exitCode = exitCodeWithReport(final, report);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

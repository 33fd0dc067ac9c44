// A durabatch worker: polls one task queue for batch and item workflows and runs the activities.
import { makeTelemetryFilterString, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { ConnectionOptions } from '@temporalio/client';
import type { Logger } from 'pino';
import { createActivities } from '../../activities';
import type { ProcessorAllowList } from './allow-settings';
import { dataConverterFromEnv, throttledKeyErrors } from '../codec';
import { operationLogger, type LogLevels } from '../logging/levels';
import { PinoTemporalLogger } from '../logging/temporal-logger';
import { DEFAULT_TASK_QUEUE } from '../home/defaults';
import { bundleEncodesFailures, workflowBundlePath } from './bundle';
import { InputError } from '../errors';
import type { RetryTracker } from './retry-tracker';

let runtimeInstalled = false;

/**
 * Routes the SDK's logs into pino, the Rust core's included: left alone, the core prints its own
 * coloured lines (a heartbeat for a finished item, a poll error) straight onto the terminal. The
 * Temporal runtime can be installed once per process.
 */
export function installRuntimeLogger(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  // Prometheus metrics of the SDK runtime (task latencies, slots, polls) for a worker in a cluster.
  const metricsAddress = process.env.DURABATCH_METRICS_ADDRESS;
  Runtime.install({
    logger: new PinoTemporalLogger(logger),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
      ...(metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : {}),
    },
  });
}

export interface BatchWorkerOptions {
  connectionOptions: ConnectionOptions;
  namespace: string;
  taskQueue?: string;
  home: string;
  logger: Logger;
  /**
   * Where the SDK's own logs go (its core, workflow `log`, worker lifecycle); default `logger`. `run`
   * passes a file-only logger: none of it is for the person watching the progress line.
   */
  runtimeLogger?: Logger;
  /** Prebuilt workflow bundle (tests build one per run); default: the cached bundle under home. */
  workflowBundlePath?: string;
  /** The worker's identity in histories (default the SDK's, `<pid>@<host>`). */
  identity?: string;
  /** Per-operation log levels (workflow, processor, source, results, worker). */
  logLevels?: LogLevels;
  /** Activities running at once on this worker (default 200: item activities mostly wait on I/O). */
  maxConcurrentActivities?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * The programs, modules and http origins this worker runs (anyone who can start a workflow on
   * the task queue writes the processor a batch names). No default, on purpose: `durabatch worker`
   * reads it from its settings (src/worker/allow-settings.ts), `run` derives it from its batch, and
   * an embedder that trusts every client of its Temporal namespace says so with ALLOW_ANY.
   */
  allow: ProcessorAllowList;
  /**
   * On shutdown (SIGTERM), how long in-flight activities may finish before they are cancelled
   * (default: cancelled at once). `durabatch worker` sets it from DURABATCH_STOP_GRACE_SECONDS.
   */
  shutdownGraceMs?: number;
  /** Counts the items this worker is retrying (`run` shows the count in its progress line). */
  retryTracker?: RetryTracker;
}

export interface BatchWorker {
  worker: Worker;
  connection: NativeConnection;
  /** Runs until shutdown() is called or the worker fails. */
  run(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * With the codec on, a caller's prebuilt bundle must be one built with the failure converter (as
 * workflowBundlePath builds it): otherwise failures raised in workflow code (an item's error
 * excerpt, a blocked reason) reach history in clear while every payload is encrypted.
 */
async function assertBundleEncodesFailures(codePath: string, failureConverterPath: string): Promise<void> {
  const encodes = await bundleEncodesFailures(codePath).catch((err: unknown) => {
    throw new InputError(`cannot read the workflow bundle ${codePath}: ${(err as Error).message}`);
  });
  if (encodes) return;
  throw new InputError(
    `the workflow bundle ${codePath} was built without the failure converter, while a payload codec ` +
      'key is set (DURABATCH_CODEC_KEY, DURABATCH_CODEC_KEY_FILE): failures raised by workflow code ' +
      'would be stored in clear in history',
    `leave workflowBundlePath unset (the worker builds the right bundle), or build it with ` +
      `bundleWorkflowCode({ failureConverterPath: ${JSON.stringify(failureConverterPath)}, … }) ` +
      '(workflowBundlePath(home, logger, encodedFailuresPath()) in src/worker/bundle.ts does)',
  );
}

export async function createBatchWorker(opts: BatchWorkerOptions): Promise<BatchWorker> {
  installRuntimeLogger(operationLogger(opts.runtimeLogger ?? opts.logger, 'workflow', opts.logLevels));
  // Payload encryption (DURABATCH_CODEC_KEY*), the same key as the clients'; failures encoded too,
  // also by the workflow bundle (built with the same failure converter).
  // A wrong key fails workflow tasks, which the SDK does not log: the worker's log says which key.
  const dataConverter = dataConverterFromEnv(
    { ...process.env, ...opts.env },
    throttledKeyErrors((err) => opts.logger.error({ err: err.message }, 'cannot decrypt payloads')),
  );
  if (opts.workflowBundlePath && dataConverter?.failureConverterPath) {
    await assertBundleEncodesFailures(opts.workflowBundlePath, dataConverter.failureConverterPath);
  }
  const { address, tls, apiKey, metadata } = opts.connectionOptions;
  const connection = await NativeConnection.connect({
    address,
    tls: tls as never,
    apiKey: typeof apiKey === 'string' ? apiKey : undefined,
    metadata: metadata as Record<string, string> | undefined,
  });
  const codePath =
    opts.workflowBundlePath ??
    (await workflowBundlePath(opts.home, opts.logger, dataConverter?.failureConverterPath));
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowBundle: { codePath },
    ...(opts.identity ? { identity: opts.identity } : {}),
    dataConverter,
    activities: createActivities({
      logger: opts.logger,
      env: opts.env,
      logLevels: opts.logLevels,
      allow: opts.allow,
    }),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 200,
    // A page schedules many items' activities in one workflow task; the SDK's default hands only 3
    // of them straight back to this worker (eager execution), the rest go through the server's
    // matching: more server work and ~40 ms more per item. Any free slot may take one: page mode at
    // zero latency went from 172 to 244 items/s and 9.9 to 6.3 ms of CPU per item. Items of a page
    // then run on the worker that runs the page; pages still spread across workers.
    maxEagerActivityReservationsPerWorkflowTask: opts.maxConcurrentActivities ?? 200,
    ...(opts.retryTracker ? { interceptors: { activity: [opts.retryTracker.interceptor] } } : {}),
    maxConcurrentWorkflowTaskExecutions: 100,
    maxCachedWorkflows: 1_000,
    // Heartbeats carry cancellation to a running item: sent at most a second apart, a cancelled
    // command is killed (or a request aborted) about a second after the cancel request.
    defaultHeartbeatThrottleInterval: '1 second',
    maxHeartbeatThrottleInterval: '1 second',
    ...(opts.shutdownGraceMs !== undefined
      ? { shutdownGraceTime: opts.shutdownGraceMs, shutdownForceTime: opts.shutdownGraceMs + 10_000 }
      : {}),
  });
  let running: Promise<void> | undefined;
  // Once only: a caller that stops its worker early and its clean-up may both call it.
  let stopped: Promise<void> | undefined;
  return {
    worker,
    connection,
    run: () => (running ??= worker.run()),
    shutdown: () =>
      (stopped ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running?.catch(() => undefined);
        await connection.close();
      })()),
  };
}

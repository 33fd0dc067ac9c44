// Per-test context on the shared dev server: a unique task queue and output directory, a real
// worker with real activities, and a BatchClient.
import { mkdir, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';
import { BatchClient } from '../../src/client/batch-client';
import { Config, type ConfigInput } from '../../src/config/schema';
import { createLogger } from '../../src/logging/logger';
import { createBatchWorker, type BatchWorker } from '../../src/worker/worker';
import type { RetryTracker } from '../../src/worker/retry-tracker';
import { ALLOW_ANY, type ProcessorAllowList } from '../../src/worker/allow-settings';

export interface TestContext {
  address: string;
  taskQueue: string;
  home: string;
  dir: string;
  connection: Connection;
  client: Client;
  batches: BatchClient;
  /** Settings with test-friendly defaults (fast retries), overridable. */
  config(overrides: ConfigInput): Config;
  /** A worker on the test's task queue; `allow` defaults to ALLOW_ANY (tests name their processors). */
  startWorker(opts?: {
    env?: NodeJS.ProcessEnv;
    retryTracker?: RetryTracker;
    allow?: ProcessorAllowList;
    /** Another workflow bundle than this checkout's (an earlier release's). */
    workflowBundlePath?: string;
    identity?: string;
  }): Promise<BatchWorker>;
  close(): Promise<void>;
}

let seq = 0;

export async function createTestContext(name: string): Promise<TestContext> {
  const address = inject('temporalAddress');
  const id = `${name}-${process.pid}-${++seq}-${Date.now().toString(36)}`;
  const dir = await mkdtemp(path.join(inject('tmpRoot'), `${name}-`));
  const home = path.join(dir, 'home');
  await mkdir(home, { recursive: true });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const taskQueue = `tq-${id}`;
  const batches = new BatchClient(client, {
    namespace: 'default',
    taskQueue,
    home,
    webUiBase: inject('temporalUiUrl'),
  });
  const workers: BatchWorker[] = [];
  const logger = createLogger({
    level: 'info',
    terminalLevel: process.env.DURABATCH_TEST_LOG_LEVEL ?? 'error',
    file: path.join(dir, 'worker.log'),
  });
  return {
    address,
    taskQueue,
    home,
    dir,
    connection,
    client,
    batches,
    config: (overrides) =>
      Config.parse({
        initialIntervalMs: 100,
        maxIntervalMs: 1_000,
        taskQueue,
        home,
        outputDir: path.join(dir, 'output', overrides.batchId ?? `batch-${++seq}`),
        ...overrides,
      }),
    async startWorker(opts = {}) {
      const worker = await createBatchWorker({
        connectionOptions: { address },
        namespace: 'default',
        taskQueue,
        home,
        logger,
        workflowBundlePath: opts.workflowBundlePath ?? inject('workflowBundlePath'),
        identity: opts.identity,
        env: opts.env,
        retryTracker: opts.retryTracker,
        allow: opts.allow ?? ALLOW_ANY,
      });
      worker.run().catch((err: unknown) => console.error(`worker on ${taskQueue} failed`, err));
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.all(workers.map((w) => w.shutdown()));
      await connection.close();
    },
  };
}

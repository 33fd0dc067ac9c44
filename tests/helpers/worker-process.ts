// A real `durabatch worker` in its own OS process (bin/durabatch.js), for tests that kill a worker
// the hard way. Its output goes to a log file; kill() sends SIGKILL and waits for the exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { inject } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/durabatch.js', import.meta.url));

export interface WorkerProcess {
  pid: number;
  child: ChildProcess;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL (no graceful shutdown) and wait until the process is gone. */
  kill(): Promise<void>;
}

export function spawnWorkerProcess(opts: {
  taskQueue: string;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Temporal address (default: the test run's shared dev server). */
  address?: string;
}): WorkerProcess {
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, [BIN, 'worker', '--task-queue', opts.taskQueue], {
    cwd: path.dirname(path.dirname(BIN)),
    env: {
      ...process.env,
      // The test's own batches: whatever they name runs (a `durabatch worker` allows nothing by default).
      DURABATCH_ALLOW_COMMANDS: '*',
      DURABATCH_ALLOW_MODULES: '*',
      DURABATCH_ALLOW_ORIGINS: '*',
      // Its batches' files lie in the test's temporary folders, outside the worker's default roots.
      DURABATCH_ALLOW_PATHS: '*',
      ...opts.env,
      TEMPORAL_ADDRESS: opts.address ?? inject('temporalAddress'),
      TEMPORAL_NAMESPACE: 'default',
      DURABATCH_HOME: inject('toolsHome'),
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error('could not start a durabatch worker process');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    pid: child.pid,
    child,
    logFile: opts.logFile,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Waits until `n` workers poll the task queue for workflow tasks (a spawned worker takes seconds to start). */
export async function waitForPollers(
  client: Client,
  taskQueue: string,
  n: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    if ((res.pollers?.length ?? 0) >= n) return;
    if (Date.now() > deadline)
      throw new Error(`${n} workers did not start polling ${taskQueue} within ${timeoutMs} ms`);
    await sleep(250);
  }
}

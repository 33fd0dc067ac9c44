// What `durabatch retry-failed <id>` does: a new batch of exactly the failed items of `<id>`, with
// the old batch's settings unless a flag given here overrides one. Imported when the command runs.
import path from 'node:path';
import type { ProcessorSpec, StepSpec } from '../../workflows/types';
import { defaultBatchId } from '../client/batch-client';
import { startRetryFailed, type RetryOverrides, type RetryStarted } from '../client/redrive';
import { stepsFromConfig } from '../client/steps';
import type { Config } from '../config/schema';
import { InputError } from '../errors';
import { loadConfig } from '../config/load';
import { DEFAULT_TASK_QUEUE } from '../runtime/defaults';
import { type BatchFlags } from './batch-options';
import { withBatchClient } from './batch-connection';
import { parseDuration, parseHeaders } from './flag-values';
import { followWithWorker } from './run-with-worker';
import { enableTypeScriptModules } from './typescript-modules';

export type RetryFlags = BatchFlags & { follow?: boolean; json?: boolean; worker: boolean };

/** Flags that change the processor of a one-step batch. */
// prettier-ignore
const PROCESSOR_FLAGS = [
  'processor', 'url', 'method', 'header', 'body', 'bodyMode', 'fileField', 'connections', 'command', 'cwd', 'module', 'timeout',
] as const;

/** Setting → flag, so a validation error names the flag that was given. */
// prettier-ignore
const FLAG_NAMES: Record<string, string> = {
  processor: '--processor', 'http.url': '--url', 'http.method': '--method', 'http.headers': '--header',
  'http.body': '--body', 'http.bodyMode': '--body-mode', 'http.fileField': '--file-field',
  'http.connections': '--connections', 'http.timeoutMs': '--timeout', 'command.argv': '--command',
  'command.cwd': '--cwd', 'command.timeoutMs': '--timeout', 'module.path': '--module', 'module.timeoutMs': '--timeout',
  concurrency: '--concurrency', rate: '--rate', maxAttempts: '--max-attempts', heartbeatTimeoutMs: '--heartbeat-timeout',
  failFast: '--fail-fast', maxFailures: '--max-failures', maxFailureRate: '--max-failure-rate', batchId: '--batch-id',
};

/** The old processor's settings in config form (same kind only), with the flags given laid over them. */
function processorSettings(
  old: ProcessorSpec | undefined,
  kind: Config['processor'],
  flags: RetryFlags,
  given: Set<string>,
) {
  const timeoutMs = flags.timeout === undefined ? undefined : parseDuration(flags.timeout, '--timeout');
  const base = old?.type === kind ? old : undefined;
  const val = <T>(flag: string, value: T, fallback: unknown) => (given.has(flag) ? value : fallback);
  switch (kind) {
    case 'http': {
      const o = base?.type === 'http' ? base : undefined;
      // A --header adds or replaces that header (names compare case-insensitively); the others stay.
      const headers: Record<string, string> = { ...o?.headers };
      for (const [name, value] of Object.entries(parseHeaders(flags.header) ?? {})) {
        for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
        headers[name] = value;
      }
      return {
        url: val('url', flags.url, o?.url),
        method: val('method', flags.method, o?.method),
        headers,
        body: val('body', flags.body, o?.body),
        bodyMode: val('bodyMode', flags.bodyMode, o?.bodyMode),
        fileField: val('fileField', flags.fileField, o?.fileField),
        connections: val('connections', flags.connections, o?.connections),
        timeoutMs: val('timeout', timeoutMs, o?.timeoutMs),
      };
    }
    case 'command': {
      const o = base?.type === 'command' ? base : undefined;
      const { type: _t, ...rest } = o ?? { type: 'command' };
      return {
        ...rest,
        argv: val('command', flags.command, o?.argv),
        cwd: val('cwd', flags.cwd, o?.cwd),
        timeoutMs: val('timeout', timeoutMs, o?.timeoutMs),
      };
    }
    case 'module': {
      const o = base?.type === 'module' ? base : undefined;
      return {
        path: val('module', flags.module, o?.module),
        timeoutMs: val('timeout', timeoutMs, o?.timeoutMs),
      };
    }
  }
}

/**
 * The overrides of the flags typed on this command line; everything else stays as the old batch
 * had it. Defaults and DURABATCH_* variables never apply here: they must not silently replace the
 * settings the failed items ran with.
 */
export async function overridesFrom(flags: RetryFlags, given: Set<string>): Promise<RetryOverrides> {
  const has = (f: string) => given.has(f);
  const limitValues = {
    concurrency: flags.concurrency,
    rate: flags.rate,
    maxAttempts: flags.maxAttempts,
    heartbeatTimeoutMs:
      flags.heartbeatTimeout === undefined
        ? undefined
        : parseDuration(flags.heartbeatTimeout, '--heartbeat-timeout'),
    failFast: flags.failFast,
    maxFailures: flags.maxFailures,
    maxFailureRate: flags.maxFailureRate,
    batchId: flags.batchId,
  };
  // Validates the limit flags (ranges, numbers) with the same schema and messages as `start`.
  const { config } = await loadConfig({ env: {}, flags: limitValues, flagNames: FLAG_NAMES });
  const processorFlags = PROCESSOR_FLAGS.filter(has);
  const editSteps = async (old: StepSpec[]): Promise<StepSpec[]> => {
    if (old.length !== 1) {
      const names = processorFlags
        .map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)
        .join(', ');
      throw new InputError(
        `the batch ran a pipeline of ${old.length} steps; ${names} cannot say which step to change`,
        'retry with the same pipeline (no processor flags), or start a new batch from results/failed.csv with --config',
      );
    }
    const oldProcessor = old[0]!.processor;
    const kind = has('processor')
      ? (flags.processor as Config['processor'])
      : has('command')
        ? 'command'
        : has('module')
          ? 'module'
          : oldProcessor.type;
    const settings = processorSettings(oldProcessor, kind, flags, given);
    if (kind === 'command' && !('argv' in settings && settings.argv)) {
      throw new InputError(
        'a command processor needs its command',
        'give --command "convert {path} {documents}/out.png"',
      );
    }
    if (kind === 'module' && !('path' in settings && settings.path)) {
      throw new InputError('a module processor needs its module', 'give --module ./my-processor.ts');
    }
    const values = { processor: kind, [kind]: settings };
    const { config: c } = await loadConfig({ env: {}, flags: values, flagNames: FLAG_NAMES });
    return [{ ...old[0]!, processor: stepsFromConfig(c)[0]!.processor }];
  };
  return {
    batchId: flags.batchId,
    outputDir: flags.outputDir,
    taskQueue: flags.taskQueue,
    steps: processorFlags.length === 0 ? undefined : editSteps,
    limits: {
      ...(has('concurrency') ? { concurrency: config.concurrency } : {}),
      ...(has('rate') ? { rate: config.rate } : {}),
    },
    retry: {
      ...(has('maxAttempts') ? { maxAttempts: config.maxAttempts } : {}),
      ...(has('heartbeatTimeout') ? { heartbeatTimeoutMs: config.heartbeatTimeoutMs } : {}),
    },
    failurePolicy: {
      ...(has('failFast') ? { failFast: config.failFast } : {}),
      ...(has('maxFailures') ? { maxFailures: config.maxFailures } : {}),
      ...(has('maxFailureRate') ? { maxFailureRate: config.maxFailureRate } : {}),
    },
  };
}

function announce(started: RetryStarted): void {
  const say = (m: string) => process.stderr.write(`${m}\n`);
  say(
    `batch ${started.batchId}: ${started.total} failed items of ${started.retryOf}, same keys (rows in ${started.file})`,
  );
  if (started.webUiUrl) say(`  Web UI: ${started.webUiUrl}`);
  if (started.itemsUrl) say(`  items:  ${started.itemsUrl}`);
}

/** `given`: the flags set on the command line (not defaults), so only those override the old batch. */
export async function retryFailedBatch(oldId: string, flags: RetryFlags, given: Set<string>): Promise<void> {
  const overrides = await overridesFrom(flags, given);
  if (!flags.follow) {
    await withBatchClient(async (client) => {
      const started = await startRetryFailed(client, oldId, overrides);
      announce(started);
      if (flags.json) {
        const { handle: _h, ...rest } = started;
        process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
      } else process.stdout.write(`${started.batchId}\n`);
    });
    return;
  }
  // Following needs the new id before the start: the worker logs into its output directory.
  overrides.batchId ??= defaultBatchId(`${oldId}-retry`);
  overrides.outputDir ??= path.join('output', overrides.batchId);
  const outputDir = overrides.outputDir;
  if (flags.worker) await enableTypeScriptModules();
  await followWithWorker({
    plan: async (client) => {
      // The worker must poll the queue the batch runs on: the old batch's, unless --task-queue.
      const described = await client
        .handle(oldId)
        .describe()
        .catch(() => undefined);
      const taskQueue = flags.taskQueue ?? described?.taskQueue ?? DEFAULT_TASK_QUEUE;
      return {
        taskQueue,
        outputDir,
        start: async (c) => {
          const started = await startRetryFailed(c, oldId, { ...overrides, taskQueue });
          announce(started);
          return started.batchId;
        },
      };
    },
    worker: flags.worker,
    json: flags.json,
  });
}

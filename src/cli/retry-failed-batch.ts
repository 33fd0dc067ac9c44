// What `durabatch retry-failed <id>` does: a new batch of exactly the failed items of `<id>`, with
// the old batch's settings unless a flag given here overrides one. Imported when the command runs.
import path from 'node:path';
import type { ProcessorSpec, StepSpec } from '../../workflows/types';
import { defaultBatchId } from '../client/batch-client';
import { startRetryFailed, type RetryOverrides, type RetryStarted } from '../client/retry-failed';
import { stepsFromConfig } from '../client/steps';
import { checkTlsFiles } from './tls-files';
import type { Config } from '../config/schema';
import { InputError } from '../errors';
import { loadConfig } from '../config/load';
import { DEFAULT_TASK_QUEUE } from '../home/defaults';
import {
  FLAG_OF_SETTING,
  RETRY_FLAG_KEYS,
  flagName,
  isProcessorFlag,
  settingsFromFlags,
  type BatchFlags,
  type FlagKey,
} from './batch-options';
import { say, withBatchClient } from './batch-connection';
import { followWithWorker } from './run-with-worker';
import { readBatchInput } from '../client/batch-records';
import { enableTypeScriptModules } from './typescript-modules';

export type RetryFlags = BatchFlags & { follow?: boolean; json?: boolean; worker: boolean };

/** The old processor's settings in config form, when it is of the kind the new batch runs. */
function oldSettings(old: ProcessorSpec | undefined, kind: Config['processor']): Record<string, unknown> {
  if (old?.type !== kind) return {};
  switch (old.type) {
    case 'http': {
      const { type: _t, tls, ...settings } = old;
      // Mutual TLS is one object in a step, four settings in the config.
      return {
        ...settings,
        clientCert: tls?.cert,
        clientKey: tls?.key,
        clientKeyPassphrase: tls?.passphrase,
        ca: tls?.ca,
      };
    }
    case 'command': {
      const { type: _t, ...rest } = old;
      return rest;
    }
    case 'module':
      return { path: old.module, timeoutMs: old.timeoutMs };
  }
}

/** The old processor's settings (same kind only), with the flags given laid over them. */
async function processorSettings(
  old: ProcessorSpec | undefined,
  kind: Config['processor'],
  flags: BatchFlags,
): Promise<Record<string, unknown>> {
  const given = ((await settingsFromFlags(flags, kind))[kind] ?? {}) as Record<string, unknown>;
  const base = oldSettings(old, kind);
  const settings = { ...base, ...given };
  if (kind === 'http') {
    // A --header adds or replaces that header (names compare case-insensitively); the others stay.
    const headers: Record<string, string> = { ...(base.headers as Record<string, string> | undefined) };
    for (const [name, value] of Object.entries((given.headers ?? {}) as Record<string, string>)) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
      headers[name] = value;
    }
    settings.headers = headers;
  }
  return settings;
}

/**
 * The overrides of the flags typed on this command line; everything else stays as the old batch
 * had it. Defaults and DURABATCH_* variables never apply here: they must not silently replace the
 * settings the failed items ran with.
 */
export async function overridesFrom(flags: RetryFlags, given: Set<string>): Promise<RetryOverrides> {
  const typed = (keys: FlagKey[]): BatchFlags =>
    Object.fromEntries(keys.filter((k) => given.has(k)).map((k) => [k, flags[k]]));
  const processorFlags = RETRY_FLAG_KEYS.filter((k) => given.has(k) && isProcessorFlag(k));
  const batchValues = await settingsFromFlags(
    typed(RETRY_FLAG_KEYS.filter((k) => !isProcessorFlag(k))),
    'http',
  );
  // Validates the flags (ranges, numbers) with the same schema and messages as `start`.
  const { config } = await loadConfig({ env: {}, flags: batchValues, flagNames: FLAG_OF_SETTING });
  const pick = <K extends keyof Config>(...fields: K[]): Partial<Pick<Config, K>> =>
    Object.fromEntries(fields.filter((f) => f in batchValues).map((f) => [f, config[f]])) as Partial<
      Pick<Config, K>
    >;
  const editSteps = async (old: StepSpec[]): Promise<StepSpec[]> => {
    if (old.length !== 1) {
      throw new InputError(
        `the batch ran a pipeline of ${old.length} steps; ${processorFlags.map(flagName).join(', ')} cannot say which step to change`,
        'retry with the same pipeline (no processor flags), or start a new batch from results/failed.csv with --config',
      );
    }
    const oldProcessor = old[0]!.processor;
    const kind = given.has('processor')
      ? (flags.processor as Config['processor'])
      : given.has('command')
        ? 'command'
        : given.has('module')
          ? 'module'
          : oldProcessor.type;
    const settings = await processorSettings(oldProcessor, kind, typed(processorFlags));
    if (kind === 'command' && !settings.argv) {
      throw new InputError(
        'a command processor needs its command',
        'give --command "convert {path} {documents}/out.png"',
      );
    }
    if (kind === 'module' && !settings.path) {
      throw new InputError('a module processor needs its module', 'give --module ./my-processor.ts');
    }
    const values = { processor: kind, [kind]: settings };
    const { config: c } = await loadConfig({ env: {}, flags: values, flagNames: FLAG_OF_SETTING });
    return [{ ...old[0]!, processor: stepsFromConfig(c)[0]!.processor }];
  };
  return {
    batchId: flags.batchId,
    outputDir: flags.outputDir,
    taskQueue: flags.taskQueue,
    steps: processorFlags.length === 0 ? undefined : editSteps,
    limits: pick('concurrency', 'rate'),
    retry: pick('maxAttempts', 'heartbeatTimeoutMs'),
    failurePolicy: pick('failFast', 'maxFailures', 'maxFailureRate'),
  };
}

function announce(started: RetryStarted): void {
  say(
    `batch ${started.batchId}: ${started.total} failed items of ${started.retryOf}, same keys (rows in ${started.file})`,
  );
  if (started.webUiUrl) say(`  Web UI: ${started.webUiUrl}`);
  if (started.itemsUrl) say(`  items:  ${started.itemsUrl}`);
}

/** `given`: the flags set on the command line (not defaults), so only those override the old batch. */
export async function retryFailedBatch(oldId: string, flags: RetryFlags, given: Set<string>): Promise<void> {
  const overrides = await overridesFrom(flags, given);
  // The new batch's certificate files (the old batch's, or new flags') must be readable here first.
  const editSteps = overrides.steps;
  overrides.steps = async (old) => {
    const steps = editSteps ? await editSteps(old) : old;
    await checkTlsFiles(steps);
    return steps;
  };
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
      // The in-process worker allows the processors of the batch being retried (the user asked).
      const old = await readBatchInput(client, oldId).catch(() => undefined);
      const steps = old && (overrides.steps ? await overrides.steps(old.steps) : old.steps);
      return {
        taskQueue,
        outputDir,
        steps,
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

// `durabatch retry-failed <id>`: a new batch of exactly the failed items of `<id>`, with the old
// batch's settings unless a flag given here overrides one.
import path from 'node:path';
import type { Command } from 'commander';
import type { ProcessorSpec, StepSpec } from '../../../workflows/types';
import { defaultBatchId } from '../../client/batch-client';
import { startRetryFailed, type RetryOverrides, type RetryStarted } from '../../client/redrive';
import { stepsFromConfig } from '../../client/steps';
import type { Config } from '../../config/schema';
import { InputError } from '../../errors';
import { loadConfig } from '../../config/load';
import { type BatchFlags } from '../batch-options';
import { parseDuration, parseHeaders } from '../flag-values';
import { DEFAULT_TASK_QUEUE } from '../../worker/worker';
import { followWithWorker, withBatchClient } from '../follow-batch';

type RetryFlags = BatchFlags & { follow?: boolean; json?: boolean; worker: boolean };

const collect = (value: string, previous: string[] = []) => [...previous, value];

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

export function registerRetryFailed(program: Command): void {
  const cmd = program
    .command('retry-failed')
    .argument('<batchId>', 'an ended batch with failed items')
    .description('start a new batch of exactly the failed items of <batchId>, linked to it')
    .option(
      '--processor <type>',
      'http|command|module: a different kind of processor (give all its settings)',
    )
    .option('--url <template>', 'URL template instead of the old one')
    .option('--method <method>', 'HTTP method instead of the old one')
    .option('--header <name:value>', 'add or replace a request header, repeatable', collect)
    .option('--body <json>', 'JSON body template instead of the old one')
    .option('--body-mode <mode>', 'json, raw or multipart')
    .option('--file-field <name>', 'multipart form field of the file')
    .option('--connections <n>', 'connections per target host on one worker')
    .option('--command <line>', 'command per item instead of the old one')
    .option('--cwd <dir>', 'working directory of the command')
    .option('--module <file>', 'module processor file instead of the old one')
    .option('--timeout <duration>', 'per-attempt timeout: ms, or with s/m suffix')
    .option(
      '--heartbeat-timeout <duration>',
      'retry a running item elsewhere after this long without heartbeat',
    )
    .option('--concurrency <n>', 'items in flight at once, 1..1000')
    .option('--rate <items/s>', 'start at most this many items per second')
    .option('--max-attempts <n>', 'attempts per item, first try included')
    .option('--fail-fast', 'end the batch at the first failed item')
    .option('--max-failures <n>', 'end the batch as failed when more than n items failed')
    .option('--max-failure-rate <percent>', 'end the batch as failed above this failure percentage')
    .option('--output-dir <dir>', 'output directory of the new batch (default output/<new id>)')
    .option('--batch-id <id>', 'id of the new batch (default <old id>-retry-<timestamp>)')
    .option('--task-queue <name>', "task queue of the new batch (default: the old batch's)")
    .option('--follow', 'follow the new batch to its end like `run` (with a worker in this process)')
    .option('--no-worker', 'with --follow: do not run a worker in this process')
    .option('--json', 'print the new batch as JSON (with --follow: its final status)')
    .addHelpText(
      'after',
      `
Examples:
  durabatch retry-failed patients-20250131-080003-ab12
  durabatch retry-failed patients-20250131-080003-ab12 --url 'http://localhost:8080/v2/patients/{patient_id}' --follow
  durabatch retry-failed leads-20250131-120000-x9k2 --concurrency 2 --rate 1 --max-attempts 10

The failed items (status "failed" in results/items.jsonl of <batchId>) are taken from the old batch's
staged copy, so the rows are exactly those that failed even if the original file changed since, and
keep their keys (a batch keyed by row number gets a "_durabatch_key" column holding the old key).
They are written to <output>/retry-of-<batchId>.jsonl. The new batch has the old one's processor,
retry policy, limits and failure policy, except for the flags given here; processor flags change only
the settings they name. Both batches are linked: the new one's memo has retryOf, and the old one's
audit log records retry-failed with the new id.
Exit code: 0 started (with --follow: all items succeeded), 1 the followed batch ended with failures,
2 bad input (unknown batch, still running, nothing failed).`,
    );
  cmd.action(async (oldId: string, flags: RetryFlags) => {
    const given = new Set(
      cmd.options.map((o) => o.attributeName()).filter((name) => cmd.getOptionValueSource(name) === 'cli'),
    );
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
    await followWithWorker({
      // The worker must poll the queue the batch runs on: the old batch's, unless --task-queue.
      taskQueue: async (client) =>
        flags.taskQueue ??
        (
          await client
            .handle(oldId)
            .describe()
            .catch(() => undefined)
        )?.taskQueue ??
        DEFAULT_TASK_QUEUE,
      outputDir: overrides.outputDir,
      worker: flags.worker,
      json: flags.json,
      start: async (client, taskQueue) => {
        const started = await startRetryFailed(client, oldId, { ...overrides, taskQueue });
        announce(started);
        return started.batchId;
      },
    });
  });
}

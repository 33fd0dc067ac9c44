// What `durabatch run` does: validate, then start a batch — or resume the one this same command left
// unfinished, or show the one it already finished — and follow it with a worker in this process to
// its end. One command, one batch: a lock per command makes two runs started together share one.
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { checkModulesLoad } from '../processor-modules/load';
import { appendAudit } from '../audit/audit-log';
import { defaultBatchId, type BatchClient } from '../client/batch-client';
import { DEFAULT_TASK_QUEUE } from '../home/defaults';
import { stepsFromConfig } from '../client/steps';
import type { Config } from '../config/schema';
import { InputError } from '../errors';
import { readRunRecord, removeRunRecord, runKey, writeRunRecord, type RunRecord } from '../home/run-record';
import { acquireRunLock, type RunLock } from '../home/run-lock';
import { compareServers, serverIdentity } from '../server/server-identity';
import { resumeOnWrongServer } from '../home/wrong-server';
import { resolveBatchConfig, type BatchFlags } from './batch-options';
import { say } from './batch-connection';
import { enableTypeScriptModules } from './typescript-modules';
import { followWithWorker, type RunPlan } from './run-with-worker';
import { checkTlsFiles } from './tls-files';
import { exitCodeFor } from './follow-progress';
import { summaryBlock } from './progress-view';

export type RunFlags = BatchFlags & { json?: boolean; worker: boolean; new?: boolean };

export async function runBatch(source: string, flags: RunFlags): Promise<void> {
  const config = await resolveBatchConfig(flags);
  const steps = stepsFromConfig(config); // refuse a bad processor setup before starting anything
  await checkTlsFiles(steps);
  // This process's worker would import a --module: one that cannot load is refused now (exit 2).
  if (flags.worker) {
    // tsx's loader puts every later import of this process through its hooks thread (~0.25 s of
    // CPU per run): only for a worker that may import a module, the batch's own or an allowed one.
    if (steps.some((s) => s.processor.type === 'module') || (config.allow?.modules.length ?? 0) > 0)
      await enableTypeScriptModules();
    await checkModulesLoad(steps);
  }

  const home = path.resolve(config.home);
  const key = await runKey(source, config);
  // Held from reading the record until the batch has started (or been found): a second run of this
  // command waits here, then finds the first's record and follows the same batch.
  const lock = await acquireRunLock(home, key, {
    onWait: (holder) =>
      say(
        `waiting: another \`durabatch run\` of this same command${holder ? ` (pid ${holder.pid} on ${holder.host})` : ''} ` +
          'is starting its batch; this one follows that batch once it has started',
      ),
  });
  try {
    const previous = flags.new ? undefined : await readRunRecord(home, key);
    // Ended is ended: its history may be gone from Temporal (retention), and "absent" there must
    // never turn into the same batch started again with every item sent again.
    if (previous?.finishedAt) return showRecordedEnd(previous, flags);
    await followWithWorker({
      plan: async (client) => ({
        ...(await planRun(client, { source, config, home, key, previous, lock, ownWorker: flags.worker })),
        steps,
      }),
      allow: config.allow,
      worker: flags.worker,
      json: flags.json,
      home,
      logLevel: config.logLevel,
      logLevels: config.logLevels,
    });
  } finally {
    await lock.release();
  }
}

interface RunContext {
  source: string;
  /** This process runs the batch's worker (not `--no-worker`). */
  ownWorker: boolean;
  config: Config;
  home: string;
  /** This command's identity (source + settings): a second run of it finds the first's record. */
  key: string;
  previous: RunRecord | undefined;
  /** Released once the batch has started or been found, so a waiting run of this command follows it. */
  lock: RunLock;
}

/**
 * Resume the previous run's batch if it is still running here, show it if it has ended (nothing is
 * sent again), else start a fresh one.
 */
async function planRun(client: BatchClient, ctx: RunContext): Promise<RunPlan> {
  const { previous, home, key, lock } = ctx;
  const here = await serverIdentity(client.client, client.opts.namespace, home);
  // On another server the batch is "absent" and would be started again from its first item.
  if (previous?.server && compareServers(previous.server, here) === 'different')
    throw resumeOnWrongServer({ ...previous, server: previous.server }, here!);
  const state = previous ? await batchState(client, previous.batchId) : 'absent';
  let record = previous ?? freshRecord(ctx);
  // The server it is found on (or about to be started on), also upgrading an older record.
  if (here) record = { ...record, server: here };
  if (state !== 'absent') await writeRunRecord(home, key, record);
  const begin =
    state === 'running'
      ? (c: BatchClient) => pickUp(c, record)
      : state === 'closed'
        ? () => showFinished(record)
        : (c: BatchClient) => startFresh(c, ctx, record);
  return {
    taskQueue: record.taskQueue,
    outputDir: record.outputDir,
    start: async (c) => {
      try {
        return await begin(c);
      } finally {
        await lock.release();
      }
    },
    ended: (final) =>
      writeRunRecord(home, key, {
        ...record,
        finishedAt: final.endedAt ?? new Date().toISOString(),
        status: final.status,
        final,
      }),
  };
}

/**
 * The command's batch has already ended, as its record says: its outcome is shown from the record,
 * without Temporal, and nothing is started or sent again. The exit code is that batch's.
 */
function showRecordedEnd(r: RunRecord, flags: RunFlags): void {
  say(
    `batch ${r.batchId}, started ${r.startedAt} by this same command, has already ended: nothing is sent again`,
  );
  say(`  ended ${r.finishedAt}; use --new to process every item again as a separate batch`);
  if (r.final) {
    say(summaryBlock(r.final));
    if (flags.json) process.stdout.write(JSON.stringify(r.final, null, 2) + '\n');
    process.exitCode = exitCodeFor(r.final);
    return;
  }
  // A record of an older version keeps only the status.
  say(`batch ${r.batchId} ${r.status ?? 'ended'}`);
  say(`  results in ${r.outputDir}/results (summary.txt, results.csv, failed.csv)`);
  if (flags.json)
    process.stdout.write(JSON.stringify({ batchId: r.batchId, status: r.status }, null, 2) + '\n');
  process.exitCode = r.status === 'completed' ? 0 : 1;
}

/**
 * The command's batch has already ended: nothing is started or sent again. The summary and exit code
 * are that batch's, as when it ended, so re-running a command gives the same answer.
 */
function showFinished(r: RunRecord): Promise<string> {
  say(
    `batch ${r.batchId}, started ${r.startedAt} by this same command, has already ended: nothing is sent again`,
  );
  say('  its summary follows (use --new to process every item again as a separate batch)');
  return Promise.resolve(r.batchId);
}

/**
 * The id is fixed (and recorded) before the batch starts: a crash between the two leaves a record
 * whose batch does not exist yet, and the next run starts it under the same id.
 */
function freshRecord({ config, source, ownWorker }: RunContext): RunRecord {
  const batchId = config.batchId ?? defaultBatchId(source);
  return {
    batchId,
    taskQueue: runTaskQueue(config.taskQueue, batchId, ownWorker),
    outputDir: path.resolve(config.outputDir ?? path.join('output', batchId)),
    source: path.resolve(source),
    startedAt: new Date().toISOString(),
  };
}

/**
 * The queue a new batch of `run` goes to. With its own worker and no --task-queue, a queue of its own:
 * that worker allows only this batch's processors (the user asked for them, and no forged batch may
 * borrow them), so on a shared queue it would refuse the items of another `run` running beside it,
 * and theirs would refuse this one's. `--task-queue` (or `--no-worker`) keeps the queue asked for.
 */
export function runTaskQueue(configured: string, batchId: string, ownWorker: boolean): string {
  return ownWorker && configured === DEFAULT_TASK_QUEUE ? `${DEFAULT_TASK_QUEUE}-run-${batchId}` : configured;
}

async function pickUp(client: BatchClient, r: RunRecord): Promise<string> {
  say(`resuming batch ${r.batchId}, started ${r.startedAt} by this same command`);
  say('  items already finished are not processed again (use --new for a separate batch)');
  if (client.webUiUrl(r.batchId)) say(`  Web UI: ${client.webUiUrl(r.batchId)}`);
  if (client.itemsUrl(r.batchId)) say(`  items:  ${client.itemsUrl(r.batchId)}`);
  // Who picked the batch up again, and when: the crash itself leaves no trace elsewhere.
  await appendAudit(r.outputDir, {
    action: 'resume-run',
    batchId: r.batchId,
    args: { startedAt: r.startedAt, source: r.source },
    result: 'the same run command was started again while the batch was still running',
  });
  return r.batchId;
}

async function startFresh(client: BatchClient, ctx: RunContext, r: RunRecord): Promise<string> {
  await writeRunRecord(ctx.home, ctx.key, r);
  const started = await client
    .start(ctx.source, { ...ctx.config, batchId: r.batchId, outputDir: r.outputDir, taskQueue: r.taskQueue })
    .catch(async (err: unknown) => {
      // Refused before anything started (bad input, an id taken by another batch): the record
      // must not make the next run "resume" a batch this command never started.
      if (err instanceof InputError) await removeRunRecord(ctx.home, ctx.key);
      throw err;
    });
  say(`batch ${started.batchId}: ${started.total} items`);
  for (const w of started.warnings) say(`  warning: ${w}`);
  if (started.invalid > 0) {
    say(`  ${started.invalid} invalid rows will be skipped (use --strict to refuse the batch instead):`);
    for (const p of started.problems) say(`    ${p}`);
  }
  if (started.webUiUrl) say(`  Web UI: ${started.webUiUrl}`);
  if (started.itemsUrl) say(`  items:  ${started.itemsUrl}`);
  return started.batchId;
}

/** Whether a batch exists and is still running. */
async function batchState(client: BatchClient, batchId: string): Promise<'running' | 'closed' | 'absent'> {
  const desc = await client
    .handle(batchId)
    .describe()
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
  if (!desc) return 'absent';
  return desc.status.name === 'RUNNING' ? 'running' : 'closed';
}

// Activity factory: every real transaction of durabatch. Workflows take the types only
// (`proxyActivities<ReturnType<typeof createActivities>>`); tests pass their own dependencies.
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { SharedStorageError, SourceChangedError } from '../src/errors';
import { assertBatchStorage, type BatchStorage } from '../src/home/shared-storage';
import { checkSourceUnchanged } from '../src/source/source-check';
import type { Logger } from 'pino';
import { operationLogger, type LogLevels } from '../src/logging/levels';
import { BatchLoggers } from '../src/logging/batch-loggers';
import { batchEndFields, batchEndMessage } from '../src/logging/batch-events';
import { findStagedItem, MAX_PAGE_BYTES, readStagedPage } from '../src/source/page-reader';
import type { Item, StagedSourceRef, StepResult, StepSpec } from '../workflows/types';
import { startHeartbeats, whileAlive } from './heartbeats';
import { pageOfRunner, runPageItems, type StepAttemptContext } from './runner/page-runner';
import type { RunPageItemsInput, RunPageItemsResult } from '../workflows/runner-protocol';
import { AttemptJournal } from './item-journal';
import { runProcessor } from './processors';
import { ALLOW_ANY, assertAllowed, type ProcessorAllowList } from './processors/allow-list';
import { SecretScrubber, secretsOf } from './processors/secret-scrub';
import { assertStoragePath } from './storage-roots';
import { writeReport, type WriteReportInput } from './results/report';
import { writeResultsPage, type WriteResultsPageInput } from './results/pages';
import {
  awaitWorkflowsClosed,
  findClosedWorkflows,
  type AwaitWorkflowsClosedInput,
  type FindClosedWorkflowsInput,
} from './child-workflows/workflows-closed';
import { recordAudit } from './audit/record-audit';
import type { RecordAuditInput } from '../workflows/batch-audit';
import { FailureType } from '../workflows/failure-types';

export interface ActivityDeps {
  logger: Logger;
  /** Per-operation log levels: `source` (pages), `processor` (items), `results` (result files). */
  logLevels?: LogLevels;
  /** Where `${env:NAME}` references are resolved (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * What processItem agrees to run (programs, modules, origins), checked before anything runs, and
   * where every activity agrees to read and write a batch's files (paths), checked before any I/O.
   * Default ALLOW_ANY: the worker factory (src/worker/worker.ts) always passes its own.
   */
  allow?: ProcessorAllowList;
}

export interface ReadPageInput {
  batchId?: string;
  source: StagedSourceRef;
  offset: number;
  limit: number;
}

export interface ProcessItemInput {
  batchId: string;
  item: Item;
  step: StepSpec;
  /** True when the batch has several steps: the step name joins the idempotency key. */
  pipeline: boolean;
  /** Results of the earlier steps, by name. */
  steps: Record<string, StepResult>;
  outputDir: string;
  /** How long a cancelled step's work may take to stop before it is killed or abandoned. */
  stopGraceMs?: number;
  /** Names of the worker variables every step of the batch refers to (`${env:NAME}`): all masked. */
  batchEnvRefs?: string[];
}

const DEFAULT_STOP_GRACE_MS = 5_000;

/**
 * The batch's files must be visible here. Where an item or a source read needs them, the failure is
 * non-retryable: the batch pauses with its message (BLOCKING_FAILURE_TYPES, SOURCE_PAUSE_TYPES).
 * Result writes stay retryable: another worker that shares the storage can take them.
 */
async function requireStorage(storage: BatchStorage, log: Logger, pause: boolean): Promise<void> {
  try {
    await assertBatchStorage(storage);
  } catch (err) {
    if (!(err instanceof SharedStorageError)) throw err;
    log.error({ batchId: storage.batchId }, err.message);
    throw pause ? ApplicationFailure.nonRetryable(err.message, err.name) : err;
  }
}

/**
 * The batch's own bookkeeping (source pages, result files, the audit log, the report): heartbeats
 * while it runs, so the workflows' short BOOKKEEPING heartbeat timeout (workflows/activity-options.ts)
 * retries it on another worker within seconds of its worker dying. Until then the batch waits on it.
 */
function keptAlive<I, O>(work: (input: I) => Promise<O>): (input: I) => Promise<O> {
  return (input) => {
    const ctx = Context.current();
    if (ctx.info.isLocal) return work(input);
    return whileAlive(
      () => ctx.heartbeat(),
      () => work(input),
    );
  };
}

export function createActivities(deps: ActivityDeps) {
  const env = deps.env ?? process.env;
  const allow = deps.allow ?? ALLOW_ANY;
  const sourceLog = operationLogger(deps.logger, 'source', deps.logLevels);
  const processorLog = operationLogger(deps.logger, 'processor', deps.logLevels);
  const resultsLog = operationLogger(deps.logger, 'results', deps.logLevels);
  // Lines about a batch whose storage this worker sees also go to the batch's logs/worker.jsonl.
  const batchLogs = new BatchLoggers(deps.logger, deps.logLevels);
  /**
   * The batch's directories named by the workflow input must lie in this worker's storage roots
   * (activities/storage-roots.ts), checked first: nothing is read, written or logged to them before.
   */
  const checkPaths = async (
    paths: { outputDir?: string; stagedDir?: string },
    log: Logger,
    batchId?: string,
  ): Promise<void> => {
    try {
      if (paths.stagedDir !== undefined)
        await assertStoragePath('staged source', paths.stagedDir, allow.paths, batchId);
      if (paths.outputDir !== undefined)
        await assertStoragePath('output directory', paths.outputDir, allow.paths, batchId);
    } catch (err) {
      log.error({ batchId }, (err as Error).message);
      throw err;
    }
  };
  /** The batch's output directory is allowed here and visible: else the item's step cannot run. */
  const checkStorage = async (input: { batchId: string; outputDir: string }): Promise<void> => {
    await checkPaths({ outputDir: input.outputDir }, processorLog, input.batchId);
    await requireStorage({ batchId: input.batchId, outputDir: input.outputDir }, processorLog, true);
  };
  // The secrets a step resolves, once per step object: a runner's items share theirs.
  const stepSecrets = new WeakMap<StepSpec, string[]>();
  const secretsOfStep = (step: StepSpec, batchEnvRefs: string[] | undefined): string[] => {
    let secrets = stepSecrets.get(step);
    if (!secrets) stepSecrets.set(step, (secrets = secretsOf(step.processor, env, batchEnvRefs)));
    return secrets;
  };

  /**
   * One attempt of one item step, whoever retries it: Temporal (processItem) or the runner
   * (runPageItems). Everything an attempt must hold to is here: paths and storage checked first, only
   * what this worker allows runs, secrets masked in all that leaves it, the item journal written.
   */
  const stepAttempt = async (input: ProcessItemInput, a: StepAttemptContext): Promise<StepResult> => {
    const { step, item } = input;
    const { attempt } = a;
    // A runner checks its batch's storage itself, at most once a second (checkStorage below).
    if (!a.storageChecked) await checkStorage(input);
    // Every secret this attempt may resolve is masked in all that leaves it: failure, outcome,
    // heartbeat details and log lines (activities/processors/secret-scrub.ts).
    const scrub = new SecretScrubber(secretsOfStep(step, input.batchEnvRefs));
    const log = scrub.logger(
      batchLogs
        .op(input.outputDir, 'processor')
        .child(
          { batchId: input.batchId, itemKey: item.key, step: step.name, attempt },
          step.logLevel ? { level: step.logLevel } : undefined,
        ),
    );
    const idempotencyKey = input.pipeline
      ? `${input.batchId}:${item.key}:${step.name}`
      : `${input.batchId}:${item.key}`;
    // What the workflow does not record: the attempt began, its error, its progress (the service's
    // items view and events stream read them: src/output-dir/item-journal.ts).
    const journal = new AttemptJournal(
      input.outputDir,
      item,
      attempt,
      input.pipeline ? step.name : undefined,
    );
    journal.begin(Object.keys(input.steps).length === 0);
    const started = Date.now();
    try {
      // The workflow input names the processor, and anyone who can start a workflow writes it:
      // only what this worker's own configuration allows runs.
      await assertAllowed(step.processor, allow, { item, steps: input.steps, env });
      const out = await runProcessor(step.processor, {
        batchId: input.batchId,
        item,
        stepName: input.pipeline ? step.name : undefined,
        idempotencyKey,
        attempt,
        signal: a.signal,
        heartbeat: (details?: unknown) => a.heartbeat(scrub.value(details)),
        progress: (percent: number) => journal.progress(percent),
        lastHeartbeatDetails: a.lastHeartbeatDetails,
        steps: input.steps,
        outputDir: input.outputDir,
        stopGraceMs: input.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
        env,
        log,
      });
      const latencyMs = Date.now() - started;
      log.info({ httpStatus: out.httpStatus, latencyMs }, 'step succeeded');
      return scrub.value({ ...out, name: step.name, attempt, latencyMs });
    } catch (err) {
      scrub.error(err);
      log.info({ err: (err as Error).message }, 'step attempt failed');
      if (!a.cancelRequested()) journal.failed(err);
      throw err;
    } finally {
      journal.end();
    }
  };

  /** A page of the staged source, as the batch's items: an edited source pauses the batch. */
  const readSourcePage = async (input: ReadPageInput): Promise<Item[]> => {
    await checkPaths({ stagedDir: input.source.dir }, sourceLog, input.batchId);
    await requireStorage({ batchId: input.batchId, stagedDir: input.source.dir }, sourceLog, true);
    try {
      await checkSourceUnchanged(input.source);
    } catch (err) {
      if (!(err instanceof SourceChangedError)) throw err;
      sourceLog.warn({ batchId: input.batchId, source: input.source.originalPath }, err.message);
      // Retrying cannot help: the batch pauses with this reason (see workflows/batch.ts).
      throw ApplicationFailure.nonRetryable(err.message, FailureType.SourceChangedError);
    }
    // Bounded in bytes too: a page of wide rows must stay far below Temporal's payload limit.
    return readStagedPage(input.source, input.offset, input.limit, MAX_PAGE_BYTES);
  };

  return {
    readPage: keptAlive(readSourcePage),

    findItem: keptAlive(
      async (input: { source: StagedSourceRef; key: string }): Promise<Item | undefined> => {
        await checkPaths({ stagedDir: input.source.dir }, sourceLog);
        await requireStorage({ stagedDir: input.source.dir }, sourceLog, true);
        return findStagedItem(input.source, input.key);
      },
    ),

    /**
     * Runs one step of one item, one attempt (Temporal retries it under workflows/step-retry.ts's
     * policy). Registered as `processItem` since before pipelines: running batches call that name.
     */
    async processItem(input: ProcessItemInput): Promise<StepResult> {
      const ctx = Context.current();
      const { attempt } = ctx.info;
      // A local activity has no heartbeats (the core only logs a warning for each): skip them.
      const heartbeats = ctx.info.isLocal
        ? undefined
        : startHeartbeats((details) => ctx.heartbeat(details), ctx.info.heartbeatDetails);
      try {
        return await stepAttempt(input, {
          attempt,
          signal: ctx.cancellationSignal,
          heartbeat: (details) => heartbeats?.record(details),
          lastHeartbeatDetails: ctx.info.heartbeatDetails as unknown,
          cancelRequested: () => ctx.cancellationDetails?.cancelRequested ?? false,
        });
      } catch (err) {
        // A cancelled attempt says which attempt it was (the workflow cannot know: retries are the
        // server's), so a cancelled item's outcome counts the attempts it made (workflows/item-run.ts).
        if (ctx.cancellationDetails?.cancelRequested)
          throw new CancelledFailure('attempt cancelled', [{ attempt }]);
        throw err;
      } finally {
        heartbeats?.stop();
      }
    },

    /**
     * Runs a page's items inside this one heartbeating activity (`--item-execution runner`): the
     * page's loop without a history event per item (activities/runner/page-runner.ts).
     */
    async runPageItems(input: RunPageItemsInput): Promise<RunPageItemsResult> {
      const ctx = Context.current();
      await checkPaths({ outputDir: input.spec.outputDir }, processorLog, input.spec.batchId);
      return runPageItems(input, {
        attempt: stepAttempt,
        checkStorage: () => checkStorage(input.spec),
        readItems: (offset, limit) =>
          readSourcePage({ batchId: input.spec.batchId, source: input.source, offset, limit }),
        page: pageOfRunner(ctx.client, input),
        heartbeat: (details) => ctx.heartbeat(details),
        lastHeartbeatDetails: ctx.info.heartbeatDetails as unknown,
        cancelled: ctx.cancellationSignal,
        cancelRequested: () => ctx.cancellationDetails?.cancelRequested ?? false,
        log: processorLog.child({ batchId: input.spec.batchId, page: input.pageWorkflowId }),
      });
    },

    recordAudit: keptAlive(async (input: RecordAuditInput): Promise<void> => {
      await checkPaths({ outputDir: input.outputDir }, resultsLog, input.batchId);
      await requireStorage({ batchId: input.batchId, outputDir: input.outputDir }, resultsLog, false);
      await recordAudit(input);
    }),

    writeResultsPage: keptAlive(async (input: WriteResultsPageInput): Promise<void> => {
      await checkPaths({ outputDir: input.outputDir }, resultsLog, input.batchId);
      await requireStorage({ batchId: input.batchId, outputDir: input.outputDir }, resultsLog, false);
      await writeResultsPage(input);
    }),

    async awaitWorkflowsClosed(input: AwaitWorkflowsClosedInput): Promise<string[]> {
      return awaitWorkflowsClosed(input);
    },

    findClosedWorkflows: keptAlive(async (input: FindClosedWorkflowsInput): Promise<string[]> =>
      findClosedWorkflows(input),
    ),

    writeReport: keptAlive(async (input: WriteReportInput): Promise<void> => {
      const storage = { batchId: input.batchId, outputDir: input.outputDir, stagedDir: input.source.dir };
      await checkPaths(storage, resultsLog, input.batchId);
      await requireStorage(storage, resultsLog, false);
      await writeReport(input);
      const log = batchLogs.op(input.outputDir, 'results').child({ batchId: input.batchId });
      log.info({ outputDir: input.outputDir }, 'report written');
      log.info(batchEndFields(input.progress), batchEndMessage(input.progress));
    }),
  };
}

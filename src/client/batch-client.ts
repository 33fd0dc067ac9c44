// The typed client API: everything the CLI does to a batch, for programs too.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import {
  Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { BatchInput, batchWorkflow } from '../../workflows/batch';
import {
  cancelItemUpdate,
  type CancelItemResult,
  failuresQuery,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setLimitsUpdate,
  type SetLimitsInput,
} from '../../workflows/messages';
import { batchIdKey, batchProgressKey, batchStatusKey } from '../../workflows/search-attributes';
import type { BatchProgress, FailureRecord, Limits } from '../../workflows/types';
import { appendAudit } from '../audit/audit-log';
import { appendBatchLogLine } from '../logging/batch-log-file';
import { BATCH_START, batchStartMessage } from '../logging/batch-events';
import type { Config } from '../config/schema';
import { BatchNotFoundError, InputError } from '../errors';
import { recordBatchLocation } from '../home/batch-location';
import { askAgainIfRefused } from './query-refused';
import {
  EXPLAINED_PAGES,
  PAUSE_ACK_POLL_MS,
  PAUSE_ACK_WAIT_MS,
  whyNotAcknowledged,
  type PauseAcknowledgement,
} from './pause-acknowledgement';
import { batchStall, BatchStalledError, type BatchStall } from './batch-health';
import { serverIdentity } from '../server/server-identity';
import { stageOptionsFromConfig } from '../config/stage-options';
import { memoOutputDir, type BatchMemo } from './batch-records';
import { batchInputFromConfig } from './batch-input-from-config';
import { describeSteps, stepsFromConfig } from './steps';

/** How long a query may wait for a worker to answer it. */
const QUERY_DEADLINE_MS = 10_000;

/** A gRPC deadline passed (code 4), as the client reports it, anywhere in the cause chain. */
function isDeadlineExceeded(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e instanceof Error && i < 5; e = e.cause, i++) {
    if ((e as { code?: unknown }).code === 4 || /DEADLINE_EXCEEDED|deadline exceeded/i.test(e.message))
      return true;
  }
  return false;
}

/** The innermost message of a workflow's failure (the activity's own error, not its wrappers). */
function failureText(err: unknown): string {
  let e: unknown = err;
  let activity: string | undefined;
  while (e instanceof Error && e.cause instanceof Error) {
    activity = (e as { activityType?: string }).activityType ?? activity;
    e = e.cause;
  }
  const text = e instanceof Error ? e.message : String(e);
  return activity ? `${activity}: ${text}` : text;
}

/** A handle typed by the batch workflow: its result is the final BatchProgress. */
export type BatchHandle = WorkflowHandle<typeof batchWorkflow>;
export interface BatchClientOptions {
  namespace: string;
  taskQueue: string;
  /** DURABATCH_HOME (absolute). */
  home: string;
  /** Web UI base URL (e.g. http://127.0.0.1:8233), when one is known. */
  webUiBase?: string | null;
  /** Fields over the client's own in the audit entries it writes (the service names the caller's token). */
  auditFields?: { user?: string; via?: string };
  /** Whether an ended batch's summary may be read from its output directory (the service's roots). Default: yes. */
  outputReadable?: (outputDir: string) => Promise<boolean>;
}

export type EngineOptions = Pick<
  BatchInput,
  'pageSize' | 'continueAsNewAfterEvents' | 'resultsPageSize' | 'cancelGraceMs'
>;

export interface StartedBatch {
  batchId: string;
  total: number;
  outputDir: string;
  webUiUrl: string | null;
  itemsUrl: string | null;
  handle: BatchHandle;
  /** Rows staged as invalid (they are skipped), the first reasons, and non-fatal findings. */
  invalid: number;
  problems: string[];
  warnings: string[];
}

/** A batch id from the source name and the time: readable in the Web UI, unique per start. */
export function defaultBatchId(source: string, now = new Date()): string {
  const base =
    path
      .basename(source)
      .replace(/\.[^.]+$/, '')
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .slice(0, 40) || 'batch';
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const suffix = Math.random().toString(36).slice(2, 6);
  return `${base}-${stamp}-${suffix}`;
}

export class BatchClient {
  constructor(
    readonly client: Client,
    readonly opts: BatchClientOptions,
  ) {}

  webUiUrl(batchId: string): string | null {
    const base = this.opts.webUiBase;
    return base
      ? `${base}/namespaces/${encodeURIComponent(this.opts.namespace)}/workflows/${encodeURIComponent(batchId)}`
      : null;
  }

  itemsUrl(batchId: string): string | null {
    const base = this.opts.webUiBase;
    if (!base) return null;
    const query = encodeURIComponent(`BatchId = "${batchId}"`);
    return `${base}/namespaces/${encodeURIComponent(this.opts.namespace)}/workflows?query=${query}`;
  }

  /** Stages the source and starts the batch workflow. */
  /** `engine` tunes workflow internals (tests use a small continue-as-new threshold). */
  /** `memo` adds fields to the batch's memo (the service's label and request hash). */
  async start(
    source: string,
    config: Config,
    engine: EngineOptions = {},
    memo: Partial<BatchMemo> = {},
  ): Promise<StartedBatch> {
    const steps = stepsFromConfig(config);
    // Staging (the source parsers) loads only when a batch starts: `status` and friends never need it.
    const { sourceRef, stageSource } = await import('../source/stage');
    const stagedFull = await stageSource(source, stageOptionsFromConfig(config, this.opts.home));
    // Only the reference enters workflow input; the findings go back to the caller.
    const staged = sourceRef(stagedFull);
    const batchId = config.batchId ?? defaultBatchId(source);
    const outputDir = path.resolve(config.outputDir ?? path.join('output', batchId));
    await mkdir(outputDir, { recursive: true });
    const input: BatchInput = {
      ...batchInputFromConfig(config, { batchId, source: staged, steps, outputDir }),
      webUiUrl: this.webUiUrl(batchId) ?? undefined,
      ...engine,
    };
    const handle = await this.startInput(input, {
      taskQueue: config.taskQueue, // the batch's own setting (the client's default serves its other calls)
      memo: { ...memo, source: staged.originalPath, outputDir, total: staged.total },
      summary: `durabatch: ${staged.total} items from ${path.basename(staged.originalPath)} → ${describeSteps(steps)}`,
      details: [`**source** ${staged.originalPath} (${staged.total} items)`],
      audit: { source: staged.originalPath, total: staged.total },
    });
    return {
      batchId,
      total: staged.total,
      outputDir,
      webUiUrl: this.webUiUrl(batchId),
      itemsUrl: this.itemsUrl(batchId),
      handle,
      invalid: stagedFull.invalid,
      problems: stagedFull.problems,
      warnings: stagedFull.warnings,
    };
  }

  /**
   * Starts a prepared batch input: the workflow with its search attributes, memo and Web UI summary
   * and details, then the `start` audit entry. A taken id is an input error. Every batch gets a
   * fresh message secret here (a retry's input copied from another batch included).
   */
  async startInput(
    input: BatchInput,
    opts: {
      taskQueue: string;
      memo: BatchMemo;
      summary: string;
      details: string[];
      audit: Record<string, unknown>;
    },
  ): Promise<BatchHandle> {
    const { batchId, limits, outputDir } = input;
    const processor = describeSteps(input.steps);
    // The children's message tokens derive from it: drawn here, never in the workflow, whose
    // randomness follows from its public run id (workflows/message-token.ts).
    input = { ...input, messageSecret: newMessageSecret() };
    let handle: BatchHandle;
    try {
      handle = await this.client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
        workflowId: batchId,
        // A batch id names one batch for good: a finished batch's id is not reused either (its
        // results and audit would be mixed with a new run's).
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        taskQueue: opts.taskQueue,
        args: [input],
        typedSearchAttributes: [
          { key: batchIdKey, value: batchId },
          { key: batchStatusKey, value: 'running' },
          { key: batchProgressKey, value: 0 },
        ],
        memo: opts.memo,
        staticSummary: opts.summary,
        staticDetails: [
          ...opts.details,
          `**processor** ${processor}`,
          `**limits at start** concurrency ${limits.concurrency}, rate ${limits.rate ?? 'unpaced'}`,
          `**output** ${outputDir}`,
          // Where every worker must find the batch's files (docs/deployment.md, "Shared storage").
          `**staged source** ${input.source.dir}`,
        ].join('\n\n'),
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new InputError(
          `a batch with id "${batchId}" already exists`,
          `see it with \`durabatch status ${batchId}\`, or choose another --batch-id (or leave it out for a new id)`,
        );
      }
      throw err;
    }
    await this.recordLocation(batchId);
    await appendAudit(outputDir, {
      ...this.opts.auditFields,
      action: 'start',
      batchId,
      args: {
        ...opts.audit,
        concurrency: limits.concurrency,
        rate: limits.rate,
        processor,
      },
    });
    // The batch's log opens with this line, whichever worker (this process's or another) runs it.
    appendBatchLogLine(
      outputDir,
      {
        event: BATCH_START,
        batchId,
        total: input.source.total,
        source: input.source.originalPath,
        processor,
        concurrency: limits.concurrency,
        rate: limits.rate,
        budget: limits.budget,
        taskQueue: opts.taskQueue,
        outputDir,
      },
      batchStartMessage(input.source.total, processor),
    );
    return handle;
  }

  /**
   * Notes which server holds the new batch (DURABATCH_HOME/batches/), so a later "not found" on
   * another server can name this one. Best effort: the batch has started, and the note only improves
   * a later error message, so failing to write it must not report the start as failed.
   */
  private async recordLocation(batchId: string): Promise<void> {
    const server = await serverIdentity(this.client, this.opts.namespace, this.opts.home);
    if (!server) return;
    await recordBatchLocation(this.opts.home, { batchId, server, startedAt: new Date().toISOString() }).catch(
      () => undefined,
    );
  }

  handle(batchId: string): BatchHandle {
    return this.client.workflow.getHandle<typeof batchWorkflow>(batchId);
  }

  /**
   * Current progress: the live query while running, else the final summary the batch wrote. A
   * running batch that cannot answer (no worker polls its task queue, its workflow task keeps
   * failing) is a BatchStalledError at once, found by describe calls: a query would wait for a
   * worker until its timeout.
   */
  async progress(batchId: string): Promise<BatchProgress> {
    const handle = this.handle(batchId);
    try {
      const desc = await handle.describe();
      if (desc.status.name === 'RUNNING') {
        const stall = await batchStall(this.client, this.opts.namespace, desc);
        if (stall) throw new BatchStalledError(stall);
        return await this.query(batchId, desc.taskQueue, () => handle.query(progressQuery));
      }
      const outputDir = memoOutputDir(desc);
      if (outputDir && (await (this.opts.outputReadable?.(outputDir) ?? true))) {
        const summary = await readFile(path.join(outputDir, 'results', 'summary.json'), 'utf8').catch(
          () => undefined,
        );
        if (summary) return JSON.parse(summary) as BatchProgress;
      }
      const last = await this.query(batchId, desc.taskQueue, () => handle.query(progressQuery));
      if (desc.status.name === 'COMPLETED' || desc.status.name === 'CANCELLED') return last;
      // Failed (a bookkeeping activity out of attempts, a batch failure before its report),
      // terminated or timed out: the last state still says running; say how it really ended.
      const why = await handle.result().then(
        () => undefined,
        (e: unknown) => failureText(e),
      );
      return {
        ...last,
        status: 'failed',
        statusReason: `the batch workflow ${desc.status.name.toLowerCase().replace('_', ' ')}${why ? `: ${why}` : ''}`,
        endedAt: last.endedAt ?? desc.closeTime?.toISOString() ?? null,
      };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new BatchNotFoundError(batchId);
      throw err;
    }
  }

  /** Why the running batch cannot move (no worker polling, workflow task failing), if it cannot. */
  async stall(batchId: string): Promise<BatchStall | undefined> {
    try {
      const desc = await this.handle(batchId).describe();
      if (desc.status.name !== 'RUNNING') return undefined;
      return await batchStall(this.client, this.opts.namespace, desc);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new BatchNotFoundError(batchId);
      throw err;
    }
  }

  /**
   * A query bounded in time: a worker was seen polling, but it may have stopped since (the server
   * lists a poller for a while after its last poll), and an unanswered query is not an address or
   * TLS problem. Past the deadline the cause is asked again, or the wait named as such.
   */
  private async query<T>(batchId: string, taskQueue: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + QUERY_DEADLINE_MS;
    try {
      return await this.client.connection.withDeadline(deadline, () =>
        askAgainIfRefused(fn, QUERY_DEADLINE_MS),
      );
    } catch (err) {
      // Past its deadline grpc-js may end the call as CANCELLED rather than DEADLINE_EXCEEDED (seen
      // on a loaded machine): either way it is this deadline, not the server, that ended it.
      if (!isDeadlineExceeded(err) && Date.now() < deadline) throw err;
      const stall = await this.stall(batchId);
      if (stall) throw new BatchStalledError(stall);
      throw new BatchStalledError({
        kind: 'no-worker',
        batchId,
        taskQueue,
        message: `batch ${batchId} did not answer within ${QUERY_DEADLINE_MS / 1000} s: the worker that last polled \`${taskQueue}\` may have stopped, or is overloaded`,
        hint: `try again in a minute, or start a worker: \`durabatch worker --task-queue ${taskQueue}\``,
      });
    }
  }

  failures(batchId: string): Promise<FailureRecord[]> {
    return this.query(batchId, this.opts.taskQueue, () => this.handle(batchId).query(failuresQuery));
  }

  // Pause, resume, set and cancel are audited by the batch workflow itself, with this client's
  // identity (see clientIdentity), so the Web UI's and other clients' actions are audited too.
  /**
   * Pauses the batch and waits, at most `waitMs`, until the pause is acknowledged: no item starts any
   * more (items in flight finish). Not acknowledged in time: what may still start items, and why.
   */
  async pause(batchId: string, reason?: string, waitMs = PAUSE_ACK_WAIT_MS): Promise<PauseAcknowledgement> {
    const handle = this.handle(batchId);
    await handle.signal(pauseSignal, { reason });
    const started = Date.now();
    const answer = (p: Pick<BatchProgress, 'status' | 'pauseUnacknowledgedBy'>, acknowledged: boolean) => ({
      acknowledged,
      status: p.status,
      waitedMs: Date.now() - started,
      waitingFor: [] as PauseAcknowledgement['waitingFor'],
      moreWaiting: 0,
    });
    for (;;) {
      let p: BatchProgress;
      try {
        p = await this.query(batchId, this.opts.taskQueue, () => handle.query(progressQuery));
      } catch (err) {
        if (!(err instanceof BatchStalledError)) throw err;
        // The pause is recorded; the batch applies it once a worker runs it again.
        return {
          ...answer({ status: 'running' }, false),
          waitingFor: [{ child: batchId, cause: err.message }],
        };
      }
      // Ending (cancelled, failed, …): nothing new starts either.
      if (p.status !== 'running' && p.status !== 'paused') return answer(p, true);
      if (p.status === 'paused' && p.pauseAcknowledged !== false) return answer(p, true);
      if (Date.now() - started >= waitMs) {
        const pages = p.pauseUnacknowledgedBy ?? [];
        const explained = pages.slice(0, EXPLAINED_PAGES);
        const causes = await Promise.all(
          explained.map((child) => whyNotAcknowledged(this.client, this.opts.namespace, child)),
        );
        return {
          ...answer(p, false),
          waitingFor:
            p.status === 'paused'
              ? explained.map((child, i) => ({ child, cause: causes[i]! }))
              : [{ child: batchId, cause: 'the batch has not applied the pause yet (its workers are busy)' }],
          moreWaiting: pages.length - explained.length,
        };
      }
      await sleep(PAUSE_ACK_POLL_MS);
    }
  }

  async resume(batchId: string): Promise<void> {
    await this.handle(batchId).signal(resumeSignal);
  }

  async setLimits(batchId: string, limits: SetLimitsInput): Promise<Limits> {
    return await this.handle(batchId).executeUpdate(setLimitsUpdate, { args: [limits] });
  }

  /** Cancels one item: a running one's child is cancelled, a pending one is skipped. */
  async cancelItem(batchId: string, key: string): Promise<CancelItemResult> {
    return await this.handle(batchId).executeUpdate(cancelItemUpdate, { args: [{ key }] });
  }

  async cancel(batchId: string): Promise<void> {
    await this.handle(batchId).cancel();
  }
}

/** 256 random bits for a batch's message secret (BatchInput.messageSecret). */
export function newMessageSecret(): string {
  return randomBytes(32).toString('base64url');
}

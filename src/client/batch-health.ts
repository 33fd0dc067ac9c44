// Why a running batch may not move, asked of the server before anything that needs a worker: a
// query waits for a worker to answer it, so with none polling (a crash, a worker never started) or
// with the batch's workflow task failing on every attempt, `status`, `watch` and `resume` hung for
// the query's whole timeout and then blamed the address or TLS. Describing the task queue and the
// workflow answers at once, and names the cause and what to run.
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import proto from '@temporalio/proto';

// @temporalio/proto is CommonJS: its namespaces are reached through the default export under ESM.
const { enums } = proto.temporal.api;

/** A running batch that cannot move, and why. */
export interface BatchStall {
  kind: 'no-worker' | 'workflow-task-failing';
  batchId: string;
  taskQueue: string;
  /** What is wrong, in a sentence that names the task queue or the failure. */
  message: string;
  /** What to do about it. */
  hint: string;
}

/** Raised by commands that need the batch to answer: `status`, `resume` (exit code 1). */
export class BatchStalledError extends Error {
  override readonly name = 'BatchStalledError';
  constructor(readonly stall: BatchStall) {
    super(`${stall.message}\n  fix: ${stall.hint}`);
  }
}

/**
 * A worker polls by a long poll (about a minute when idle) and the server lists it with the time of
 * its latest poll; one not seen for longer than this has stopped.
 */
export const POLLER_SEEN_WITHIN_MS = 75_000;

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;

/** Identities of the workers that polled `taskQueue` for workflow tasks recently. */
export async function workflowPollers(
  client: Client,
  namespace: string,
  taskQueue: string,
): Promise<string[]> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const now = Date.now();
  return (res.pollers ?? [])
    .filter((p) => now - ms(p.lastAccessTime) <= POLLER_SEEN_WITHIN_MS)
    .map((p) => p.identity ?? '?');
}

const CAUSE_PREFIX = 'WORKFLOW_TASK_FAILED_CAUSE_';

/** The latest WorkflowTaskFailed of the run: its cause and its failure's message. */
export async function lastWorkflowTaskFailure(
  client: Client,
  namespace: string,
  desc: WorkflowExecutionDescription,
): Promise<{ cause: string; message: string } | undefined> {
  const res = await client.workflowService.getWorkflowExecutionHistoryReverse({
    namespace,
    execution: { workflowId: desc.workflowId, runId: desc.runId },
    maximumPageSize: 100,
  });
  const failed = (res.history?.events ?? []).find(
    (e) => e.eventType === enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
  );
  const attrs = failed?.workflowTaskFailedEventAttributes;
  if (!attrs) return undefined;
  const cause = enums.v1.WorkflowTaskFailedCause[attrs.cause ?? 0] ?? String(attrs.cause);
  return {
    cause: cause.startsWith(CAUSE_PREFIX) ? cause.slice(CAUSE_PREFIX.length) : cause,
    message: (attrs.failure?.message ?? '').split('\n')[0]!.slice(0, 500),
  };
}

/**
 * Why the running batch described by `desc` cannot move, or undefined when a worker polls its task
 * queue and its workflow task is not failing. Only describe calls: it never waits for a worker.
 */
export async function batchStall(
  client: Client,
  namespace: string,
  desc: WorkflowExecutionDescription,
): Promise<BatchStall | undefined> {
  const batchId = desc.workflowId;
  const taskQueue = desc.taskQueue;
  const attempt = desc.raw.pendingWorkflowTask?.attempt ?? 0;
  if (attempt > 1) {
    const failure = await lastWorkflowTaskFailure(client, namespace, desc).catch(() => undefined);
    return {
      kind: 'workflow-task-failing',
      batchId,
      taskQueue,
      message:
        `batch ${batchId} is stuck: its workflow task has failed ${attempt - 1} time(s) in a row` +
        (failure ? ` (${failure.cause}: ${failure.message})` : '') +
        `; no item starts or ends and no query is answered until it passes`,
      hint:
        failure?.cause === 'NON_DETERMINISTIC_ERROR'
          ? 'run the workers with the durabatch version that started this batch (the workflow code changed under it), or cancel it'
          : `see the worker's log for the stack, fix the cause and restart the workers; \`temporal workflow show --workflow-id ${batchId}\` shows the failure`,
    };
  }
  // A server or role that does not answer this (an older server, a narrow API key) leaves the
  // bounded query to tell: never a reason to fail the command.
  const pollers = await workflowPollers(client, namespace, taskQueue).catch(() => undefined);
  if (pollers === undefined || pollers.length > 0) return undefined;
  return {
    kind: 'no-worker',
    batchId,
    taskQueue,
    message: `batch ${batchId} is waiting: no worker is polling \`${taskQueue}\``,
    hint: `start one: \`durabatch worker --task-queue ${taskQueue}\` (or \`durabatch resume ${batchId}\`, which runs one in this process until the batch ends)`,
  };
}

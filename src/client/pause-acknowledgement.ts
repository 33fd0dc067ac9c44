// What `pause` waits for: the batch's word that no item starts any more. In per-item mode the batch
// itself starts every item, so it acknowledges at once; in page mode each page child starts its own
// items and acknowledges with its next report. A pause not acknowledged in time names the pages
// that may still start items, and why each has not answered, asked of the server (describe calls).
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { LOCAL_ITEMS_MESSAGE_DELAY_MS } from '../../workflows/lanes/local-task-timeout';
import { lastWorkflowTaskFailure, workflowPollers } from './batch-health';

// @temporalio/proto is CommonJS: its namespaces are reached through the default export under ESM.
const { enums } = proto.temporal.api;

/** How long `pause` waits for the acknowledgement before it says what it still waits for. */
export const PAUSE_ACK_WAIT_MS = 10_000;

/** How often the batch is asked while `pause` waits. */
export const PAUSE_ACK_POLL_MS = 100;

/** Pages whose cause is asked of the server when a pause is not acknowledged in time. */
export const EXPLAINED_PAGES = 5;

export interface PauseAcknowledgement {
  /** True once no item starts any more (or the batch is ending: nothing new starts either). */
  acknowledged: boolean;
  /** The batch's status when the wait ended. */
  status: string;
  waitedMs: number;
  /** Not acknowledged: what may still start items, and why it has not answered (the first few). */
  waitingFor: { child: string; cause: string }[];
  /** Children left out of `waitingFor`. */
  moreWaiting: number;
}

/** Why the page child `childId` has not acknowledged the pause, in a sentence. */
export async function whyNotAcknowledged(
  client: Client,
  namespace: string,
  childId: string,
): Promise<string> {
  let desc;
  try {
    desc = await client.workflow.getHandle(childId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'the batch has not started it yet';
    return `it could not be described: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (desc.status.name !== 'RUNNING') {
    return `it has ${desc.status.name.toLowerCase()}: its last report has not reached the batch yet`;
  }
  const task = desc.raw.pendingWorkflowTask;
  const attempt = task?.attempt ?? 0;
  if (attempt > 1) {
    const failure = await lastWorkflowTaskFailure(client, namespace, desc).catch(() => undefined);
    return (
      `its workflow task has failed ${attempt - 1} time(s) in a row` +
      (failure ? ` (${failure.cause}: ${failure.message})` : '') +
      `: it sees no message until that passes`
    );
  }
  const pollers = await workflowPollers(client, namespace, desc.taskQueue).catch(() => undefined);
  if (pollers !== undefined && pollers.length === 0) {
    return `no worker polls \`${desc.taskQueue}\`: nothing runs it, so it starts nothing either until one does`;
  }
  if (task?.state === enums.v1.PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED) {
    return (
      `a worker holds its workflow task: with --item-execution local it is kept open while local ` +
      `activities run and completes every ${LOCAL_ITEMS_MESSAGE_DELAY_MS / 1000} s; ` +
      `longer means that worker is overloaded`
    );
  }
  if (task) return 'its workflow task waits for a worker to pick it up (the workers are busy)';
  return 'it has not been sent the pause yet, or its report is on its way';
}

// Which of a batch's child workflows are still running: asked of visibility by an activity, which
// also waits (up to a timeout) for them to close.
import { log, proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';

/** The ids still running after at most `timeoutMs`; `onError` is assumed when the check fails. */
export async function stillOpen(
  batchId: string,
  workflowIds: string[],
  timeoutMs: number,
  onError: string[] = [],
): Promise<string[]> {
  if (workflowIds.length === 0) return [];
  const { awaitWorkflowsClosed } = proxyActivities<ReturnType<typeof createActivities>>({
    startToCloseTimeout: timeoutMs + 30_000,
    heartbeatTimeout: '30 seconds',
    retry: { maximumAttempts: 3 },
  });
  return awaitWorkflowsClosed({ batchId, workflowIds, timeoutMs }).catch((err: unknown) => {
    log.warn('could not check whether items closed', { batchId, error: String(err) });
    return onError;
  });
}

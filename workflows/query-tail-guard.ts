// A guard against a Temporal SDK core bug (seen with 1.24.0): when a worker that does not have a
// workflow cached answers a query, it replays the history and then also applies the events that
// arrived after the last workflow task (signals, child completions) as if they were a task of their
// own. The workflow reacts to them there and then, and the next real task's commands are computed
// from that split. A later full replay sees those events together with the task's, computes other
// commands, and fails with a nondeterminism error: the workflow then stops for good. It happens
// after a worker dies (a `status` or the Web UI queries the batch meanwhile), or when the cache
// evicted the workflow.
//
// Such an activation is recognisable: it is not a replay, it brings events, yet no workflow task
// started in it, so it carries the timestamp of the activation before it. Failing it makes the
// worker drop the workflow from its cache (the query fails; asking again works); the next real task
// then replays the history whole, the same way every later replay will.
import type { coresdk } from '@temporalio/proto';

type Activation = coresdk.workflow_activation.IWorkflowActivation;

/** How a query refused by the guard fails; clients ask again (src/client/batch-client.ts). */
export const QUERY_REFUSED_UNTASKED =
  'durabatch: this worker had to replay the workflow for the query and met events no workflow task has brought yet';

/** The activation's timestamp, exact to the nanosecond (two real tasks never share one). */
export function activationInstant(activation: Activation): string | undefined {
  const ts = activation.timestamp;
  return ts ? `${String(ts.seconds ?? 0)}.${ts.nanos ?? 0}` : undefined;
}

/**
 * Whether `activation` applies events that no workflow task brought: not a replay, with jobs that
 * are neither queries nor local activity results (those do arrive within one task, at its
 * timestamp), and the timestamp of the activation before it (`previous`).
 */
export function isUntaskedActivation(activation: Activation, previous: string | undefined): boolean {
  if (activation.isReplaying || previous === undefined) return false;
  const jobs = activation.jobs ?? [];
  if (jobs.some((j) => j.resolveActivity?.isLocal)) return false;
  if (!jobs.some((j) => !j.queryWorkflow && !j.notifyHasPatch && !j.updateRandomSeed)) return false;
  return activationInstant(activation) === previous;
}

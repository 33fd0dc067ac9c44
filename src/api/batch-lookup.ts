// What the routes that act on one batch need to know of it beyond the call they make: whether it
// exists, whether it has ended (a signal, cancel or update to an ended batch is refused by Temporal
// as "not found", which the service answers 409, not 404), and a bound on calls that wait for a worker.
import {
  WorkflowNotFoundError,
  type WorkflowExecutionDescription,
  type WorkflowExecutionStatusName,
} from '@temporalio/client';
import { batchStatusKey } from '../../workflows/search-attributes';
import { BatchStalledError } from '../client/batch-health';
import type { BatchClient } from '../client/batch-client';
import { BatchNotFoundError } from '../errors';
import { batchPath } from './links';
import { ApiProblem } from './problem';

/** The batch's description; an unknown id is a 404. */
export async function describeOr404(c: BatchClient, batchId: string): Promise<WorkflowExecutionDescription> {
  try {
    return await c.handle(batchId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new BatchNotFoundError(batchId);
    throw err;
  }
}

/** The batch's own status word (BatchStatus), or how its workflow ended when it set none. */
export function describedStatus(desc: WorkflowExecutionDescription): string {
  const own = desc.typedSearchAttributes.get(batchStatusKey);
  if (desc.status.name === 'RUNNING') return own ?? 'running';
  if (desc.status.name === 'COMPLETED') return own ?? 'completed';
  return endedAs(desc.status.name);
}

const endedAs = (name: WorkflowExecutionStatusName) =>
  name === 'CANCELLED' ? 'cancelled' : name.toLowerCase().replace('_', ' ');

/** The 409 for an action on a batch that has ended. */
export function endedProblem(
  batchId: string,
  desc: WorkflowExecutionDescription,
  action: string,
): ApiProblem {
  const status = describedStatus(desc);
  return new ApiProblem(
    409,
    'Conflict',
    `batch "${batchId}" has ended (${status}): there is nothing to ${action}`,
    `see its report with GET ${batchPath(batchId, '/report')}; POST ${batchPath(batchId, '/retry-failed')} runs its failed items again`,
    { batchStatus: status },
  );
}

/**
 * Runs `act` on a batch; Temporal's "not found" (the batch is unknown, or has ended: an ended
 * workflow takes no signal, cancel or update) becomes a 404 or a 409 that says which.
 */
export async function actOnBatch<T>(
  c: BatchClient,
  batchId: string,
  action: string,
  act: () => Promise<T>,
): Promise<T> {
  try {
    return await act();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const desc = await describeOr404(c, batchId);
    if (desc.status.name !== 'RUNNING') throw endedProblem(batchId, desc, action);
    throw err;
  }
}

/** How long an update may wait for the batch's worker before the service says why it waits. */
export const UPDATE_DEADLINE_MS = 10_000;

/** A gRPC deadline (code 4, or CANCELLED as grpc-js may end it at the deadline), anywhere in the cause chain. */
function isDeadline(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e instanceof Error && i < 5; e = e.cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (code === 4 || code === 1 || /DEADLINE_EXCEEDED|deadline exceeded/i.test(e.message)) return true;
  }
  return false;
}

/**
 * An update answered by the batch's worker, bounded in time: with no worker polling (or the
 * workflow task failing) an update would wait for one indefinitely, holding the HTTP request.
 * Past the deadline the cause is named (503), as `status` names it.
 */
export async function withinDeadline<T>(c: BatchClient, batchId: string, act: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + UPDATE_DEADLINE_MS;
  try {
    return await c.client.connection.withDeadline(deadline, act);
  } catch (err) {
    if (!isDeadline(err) || Date.now() < deadline - 100) throw err;
    const stall = await c.stall(batchId);
    if (stall) throw new BatchStalledError(stall);
    throw new ApiProblem(
      503,
      'Service Unavailable',
      `batch "${batchId}" did not answer within ${UPDATE_DEADLINE_MS / 1000} s: its worker may be overloaded`,
      'try again in a minute; if it persists, check the workers polling its task queue',
    );
  }
}

// The errors for a batch looked up on a server that does not hold it. Both name the server that
// does, and how to reach it, instead of "not found" (or, for `run`, a second batch in its place).
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { BatchNotFoundError, InputError } from '../errors';
import { readBatchLocation, type BatchLocation } from './batch-location';
import type { RunRecord } from './run-record';
import {
  compareServers,
  describeServer,
  serverIdentity,
  type ServerIdentity,
} from '../server/server-identity';

/** How to reach the recorded server, as a `fix:` line; only `run` can start the embedded server itself. */
function reachHint(held: ServerIdentity, answering: ServerIdentity, forRun: boolean): string {
  if (held.embedded && answering.embedded)
    return (
      "this DURABATCH_HOME's embedded server answers, but on another database than the batch's " +
      '(DURABATCH_HOME/temporal.db deleted or replaced?): restore that file, then run this command again'
    );
  if (held.embedded) {
    const start = forRun
      ? `stop the server answering at ${answering.address} (then this command starts the embedded one), or start it`
      : 'start it, if it is not running,';
    return (
      "it is this DURABATCH_HOME's embedded server (database DURABATCH_HOME/temporal.db): " +
      `${start} with \`durabatch server\` in another terminal (it takes a free port when its usual one is busy); ` +
      'then run this command again, without TEMPORAL_ADDRESS'
    );
  }
  const ns = held.namespace === 'default' ? '' : ` TEMPORAL_NAMESPACE=${held.namespace}`;
  return `reach that server: set TEMPORAL_ADDRESS=${held.address}${ns} and run this command again`;
}

/** `run` finds its recorded batch's server replaced: refuse rather than start the batch again there. */
export function resumeOnWrongServer(
  record: RunRecord & { server: ServerIdentity },
  answering: ServerIdentity,
): InputError {
  return new InputError(
    `batch ${record.batchId} (started ${record.startedAt} by this same command) is on Temporal server ` +
      `${describeServer(record.server)}, but the server answering at ${answering.address} is a different one ` +
      `(cluster ${answering.clusterId ?? 'unknown'}, namespace ${answering.namespace}); nothing was started there`,
    [
      reachHint(record.server, answering, true),
      `or pass --new to start a separate batch on purpose (items batch ${record.batchId} already processed are processed again)`,
    ].join('\n  fix: '),
  );
}

export function batchOnOtherServer(location: BatchLocation, answering: ServerIdentity): InputError {
  return new InputError(
    `batch ${location.batchId} is not on the Temporal server answering at ${describeServer(answering)}: ` +
      `this machine started it ${location.startedAt} on Temporal server ${describeServer(location.server)}`,
    reachHint(location.server, answering, false),
  );
}

/**
 * For a "batch not found" error: the same error, unless this machine recorded the batch on a server
 * other than the one answering; then the error that names that server.
 */
export async function explainMissingBatch(
  err: unknown,
  batchId: string,
  where: { client: Client; namespace: string; home: string },
): Promise<unknown> {
  if (!(err instanceof WorkflowNotFoundError) && !(err instanceof BatchNotFoundError)) return err;
  const location = await readBatchLocation(where.home, batchId);
  if (!location) return err;
  const answering = await serverIdentity(where.client, where.namespace, where.home);
  if (compareServers(location.server, answering) !== 'different') return err;
  return batchOnOtherServer(location, answering!);
}

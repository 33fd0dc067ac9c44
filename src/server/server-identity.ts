// Which Temporal server and namespace a client is talking to, beyond its address: an address is
// only where someone's server answers today (another developer's dev server can take 127.0.0.1:7233,
// the embedded server can move to a free port). The cluster id and the namespace id are generated
// when a server's database is created and stay the same across restarts on that database (checked
// with `temporal server start-dev --db-filename X` started twice, on different ports), so they tell
// whether a batch recorded as started "there" can be found "here".
import type { Client } from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface ServerIdentity {
  /** Where it answered when recorded; for messages only (it can change across restarts). */
  address: string;
  namespace: string;
  /** From GetClusterInfo; undefined when the server does not answer it (e.g. no permission). */
  clusterId?: string;
  /** From DescribeNamespace: a UUID, so a namespace recreated under the same name differs. */
  namespaceId?: string;
  /** True for DURABATCH_HOME's own embedded server (its address is in DURABATCH_HOME/server.json). */
  embedded?: boolean;
}

const IDENTITY_TIMEOUT_MS = 5_000;

/**
 * The identity of the server `client` is connected to, or undefined when neither id can be read
 * (then callers keep working as if no identity had been recorded, rather than refuse).
 */
export async function serverIdentity(
  client: Client,
  namespace: string,
  home: string,
): Promise<ServerIdentity | undefined> {
  const conn = client.connection;
  const within = <T>(fn: () => Promise<T>) =>
    conn.withDeadline(Date.now() + IDENTITY_TIMEOUT_MS, fn).catch(() => undefined);
  const [cluster, ns] = await Promise.all([
    within(() => conn.workflowService.getClusterInfo({})),
    within(() => conn.workflowService.describeNamespace({ namespace })),
  ]);
  const clusterId = cluster?.clusterId || undefined;
  const namespaceId = ns?.namespaceInfo?.id || undefined;
  if (!clusterId && !namespaceId) return undefined;
  // ConnectionLike does not expose the address; a real Connection has it in its options.
  const address = (conn as { options?: { address?: string } }).options?.address ?? 'an unknown address';
  const embeddedAt = await readFile(path.join(home, 'server.json'), 'utf8')
    .then((t) => (JSON.parse(t) as { address?: string }).address)
    .catch(() => undefined);
  return { address, namespace, clusterId, namespaceId, embedded: embeddedAt === address };
}

/**
 * 'different' only on evidence: an id both sides know that differs (or, with no namespace ids, a
 * different namespace name on the same cluster). 'unknown' when nothing can be compared.
 */
export function compareServers(
  recorded: ServerIdentity | undefined,
  answering: ServerIdentity | undefined,
): 'same' | 'different' | 'unknown' {
  if (!recorded || !answering) return 'unknown';
  const clusters = recorded.clusterId && answering.clusterId;
  if (clusters && recorded.clusterId !== answering.clusterId) return 'different';
  if (recorded.namespaceId && answering.namespaceId)
    return recorded.namespaceId === answering.namespaceId ? 'same' : 'different';
  if (clusters) return recorded.namespace === answering.namespace ? 'same' : 'different';
  return 'unknown';
}

/** `127.0.0.1:7233 (cluster 341de310-…, namespace default)` */
export function describeServer(id: ServerIdentity): string {
  return `${id.address} (cluster ${id.clusterId ?? 'unknown'}, namespace ${id.namespace})`;
}

// Which Temporal server to talk to: Temporal's own TEMPORAL_* variables and profile file through
// @temporalio/envconfig, defaulting to localhost:7233 like every Temporal tool.
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';

export const DEFAULT_ADDRESS = '127.0.0.1:7233';

export interface ServerTarget {
  connectionOptions: ConnectionOptions;
  namespace: string;
  /** True when the address came from the environment or a profile, not the default. */
  explicit: boolean;
}

export function resolveServerTarget(env: NodeJS.ProcessEnv = process.env): ServerTarget {
  const loaded = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  const address = loaded.connectionOptions.address;
  return {
    connectionOptions: {
      ...(loaded.connectionOptions as ConnectionOptions),
      address: address ?? DEFAULT_ADDRESS,
    },
    namespace: loaded.namespace ?? 'default',
    explicit: address !== undefined,
  };
}

/** Connects and checks the server answers, within `timeoutMs`. Returns undefined when it does not. */
export async function tryConnect(
  options: ConnectionOptions,
  timeoutMs = 3_000,
): Promise<Connection | undefined> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ ...options, connectTimeout: timeoutMs });
    const c = conn;
    await c.withDeadline(Date.now() + timeoutMs, () => c.workflowService.getSystemInfo({}));
    return conn;
  } catch {
    await conn?.close().catch(() => undefined);
    return undefined;
  }
}

// Which Temporal server to talk to: Temporal's own TEMPORAL_* variables and profile file through
// @temporalio/envconfig, defaulting to localhost:7233 like every Temporal tool.
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import path from 'node:path';
import { InputError } from '../errors';

export const DEFAULT_ADDRESS = '127.0.0.1:7233';

export interface ServerTarget {
  connectionOptions: ConnectionOptions;
  namespace: string;
  /** True when the address came from the environment or a profile, not the default. */
  explicit: boolean;
}

/** The Temporal client config file envconfig reads (TEMPORAL_CONFIG_FILE, else the user's default), for messages. */
function configFileName(env: NodeJS.ProcessEnv, err: unknown): string {
  const failed = (err as NodeJS.ErrnoException | undefined)?.path;
  if (failed) return failed;
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  const base = env.XDG_CONFIG_HOME ?? (env.HOME ? path.join(env.HOME, '.config') : '~/.config');
  return path.join(base, 'temporalio', 'temporal.toml');
}

export function resolveServerTarget(env: NodeJS.ProcessEnv = process.env): ServerTarget {
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  } catch (err) {
    // An unreadable or malformed profile file is the user's to fix: name it, don't print a stack.
    const code = (err as NodeJS.ErrnoException).code;
    // A TLS file named by TEMPORAL_TLS_* that cannot be read fails here too: say which file.
    const failed = (err as NodeJS.ErrnoException | undefined)?.path;
    const what =
      failed === undefined || failed === configFileName(env, undefined)
        ? `the Temporal client config file ${configFileName(env, err)}`
        : `a file the Temporal client settings name (${failed === '' ? 'an empty path' : failed})`;
    throw new InputError(
      `cannot load ${what}: ${code ?? (err as Error).message}`,
      'fix or remove it (or make it readable), point TEMPORAL_CONFIG_FILE at another file, or correct the TEMPORAL_TLS_* paths',
    );
  }
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
  /** Receives the reason when the server does not answer (a refused certificate, a timeout). */
  onError?: (err: unknown) => void,
): Promise<Connection | undefined> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ ...options, connectTimeout: timeoutMs });
    const c = conn;
    await c.withDeadline(Date.now() + timeoutMs, () => c.workflowService.getSystemInfo({}));
    return conn;
  } catch (err) {
    onError?.(err);
    await conn?.close().catch(() => undefined);
    return undefined;
  }
}

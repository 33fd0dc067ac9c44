// How commands on existing batches reach the server: connect to the one that answers (never starting
// one, since a batch lives only on a server that already exists) and close it afterwards. The SDK is
// imported here on first use, so commands that never connect (`--help`) do not pay for it.
import type { BatchClient } from '../client/batch-client';
import { DEFAULT_TASK_QUEUE, homeDir } from '../home/defaults';
import type { Environment } from '../server/environment';

/** Progress and notices of the CLI itself go to stderr; stdout carries only results. */
export const say = (msg: string) => process.stderr.write(`${msg}\n`);

/** A client of the batches on `env`'s server (one construction for every command). */
export async function batchClientOf(
  env: Environment,
  home: string,
  taskQueue?: string,
): Promise<BatchClient> {
  const { BatchClient } = await import('../client/batch-client');
  return new BatchClient(env.client, {
    namespace: env.namespace,
    taskQueue: taskQueue ?? DEFAULT_TASK_QUEUE,
    home,
    webUiBase: env.webUiBase,
  });
}

/** Runs `fn` with a client of the server that answers; the connection is closed afterwards. */
export async function withBatchClient<T>(
  fn: (client: BatchClient, env: Environment) => Promise<T>,
  opts: { taskQueue?: string; allowEmbedded?: boolean; home?: string } = {},
): Promise<T> {
  const home = opts.home ?? homeDir();
  const { openEnvironment } = await import('../server/environment');
  const env = await openEnvironment({ home, allowEmbedded: opts.allowEmbedded ?? false, log: say });
  try {
    return await fn(await batchClientOf(env, home, opts.taskQueue), env);
  } finally {
    await env.close();
  }
}

// `serve --worker` (config api.worker): a worker in the service's process, on the service's task
// queue, that runs exactly what the service's clients may ask for: the presets' programs, modules
// and origins (plus the config's own `allow`), with the service's storage as its only file roots.
import type { Logger } from 'pino';
import type { Config } from '../config/schema';
import type { Environment } from '../server/environment';
import { allowListOf, mergeAllowLists, type ProcessorAllowList } from '../worker/allow-settings';
import type { BatchWorker } from '../worker/worker';
import type { ApiContext } from './context';
import { presetAllowList, type CheckedPreset } from './presets';

/** The service worker's allow-list: presets and `allow`, storage under home, outputRoot and uploadsDir. */
export function serviceAllowList(
  presets: Map<string, CheckedPreset>,
  config: Pick<Config, 'allow'>,
  storage: { home: string; outputRoot: string; uploadsDir: string },
): ProcessorAllowList {
  return mergeAllowLists(allowListOf(config.allow), presetAllowList(presets), {
    paths: [storage.home, storage.outputRoot, storage.uploadsDir],
  });
}

export async function startServiceWorker(opts: {
  ctx: ApiContext;
  env: Environment;
  presets: Map<string, CheckedPreset>;
  log: Logger;
}): Promise<BatchWorker> {
  const { ctx, env } = opts;
  const { createBatchWorker } = await import('../worker/worker');
  const { enableTypeScriptModules } = await import('../cli/typescript-modules');
  const { describeAllowList } = await import('../worker/allow-settings');
  // TypeScript module presets load as the CLI's worker loads them.
  await enableTypeScriptModules();
  const allow = serviceAllowList(opts.presets, ctx.config, {
    home: ctx.home,
    outputRoot: ctx.settings.outputRoot,
    uploadsDir: ctx.settings.uploadsDir,
  });
  const worker = await createBatchWorker({
    connectionOptions: env.connectionOptions,
    namespace: env.namespace,
    taskQueue: ctx.config.taskQueue,
    home: ctx.home,
    logger: opts.log,
    allow,
  });
  opts.log.info(
    { taskQueue: ctx.config.taskQueue, allow: describeAllowList(allow) },
    'service worker running',
  );
  return worker;
}

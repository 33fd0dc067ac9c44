// `durabatch server` and `durabatch worker`: the long-running processes, in the foreground. Their
// modules are imported when they run, so the rest of the CLI does not load the worker.
import path from 'node:path';
import type { Command } from 'commander';
import { writeFile, rm } from 'node:fs/promises';
import { DEFAULT_TASK_QUEUE, homeDir } from '../../home/defaults';
import { say } from '../batch-connection';
import { enableTypeScriptModules } from '../typescript-modules';

function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

export function registerInfra(program: Command): void {
  program
    .command('server')
    .description(
      'run the embedded Temporal dev server (SQLite in DURABATCH_HOME, Web UI on) in the foreground',
    )
    .option('--port <n>', 'gRPC port (default 7233, or a free one)')
    .option('--ui-port <n>', 'Web UI port (default gRPC port + 1000, or a free one)')
    .option('--headless', 'no Web UI')
    .addHelpText(
      'after',
      '\nExample:\n  durabatch server --port 7233   # then, elsewhere: durabatch worker; durabatch start ...',
    )
    .action(async (opts: { port?: string; uiPort?: string; headless?: boolean }) => {
      const home = homeDir();
      const { startDevServer } = await import('../../server/dev-server');
      const server = await startDevServer({
        home,
        port: opts.port ? Number(opts.port) : undefined,
        uiPort: opts.uiPort ? Number(opts.uiPort) : undefined,
        headless: opts.headless,
        log: say,
      });
      await writeFile(
        path.join(home, 'server.json'),
        JSON.stringify({ address: server.address, uiUrl: server.uiUrl, pid: server.pid }),
      );
      say(`Temporal dev server ready at ${server.address} (pid ${server.pid}, database ${server.dbFile})`);
      if (server.uiUrl) say(`Web UI: ${server.uiUrl}`);
      say('Ctrl-C stops it; workflows persist in the database.');
      const why = await Promise.race([untilSignal(), server.exited.then((c) => `exit ${String(c)}`)]);
      say(`stopping (${why})`);
      await server.stop();
      await rm(path.join(home, 'server.json'), { force: true });
    });

  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('worker')
    .description('run a durabatch worker in the foreground (resumes every batch on its task queue)')
    .option('--task-queue <name>', `task queue (default ${DEFAULT_TASK_QUEUE})`)
    .option('--config <file>', 'JSON config file: its "allow" section lists what this worker runs')
    .option(
      '--allow-command <program>',
      'a program batches may run here (name on PATH or absolute path; * any); repeatable',
      collect,
    )
    .option(
      '--allow-module <path>',
      'a module file or directory batches may load (* any); repeatable',
      collect,
    )
    .option(
      '--allow-origin <origin>',
      'an origin http batches may call, e.g. https://api.example.com (* any); repeatable',
      collect,
    )
    .option(
      '--allow-path <dir>',
      "a directory batches' output directories and staged sources may lie in, besides DURABATCH_HOME and ./output (* any); repeatable",
      collect,
    )
    .option(
      '--allow-env <name>',
      'a variable batches may set for a listed program (NAME, PREFIX_*, * any); repeatable',
      collect,
    )
    .addHelpText(
      'after',
      '\nA worker runs only what its allow-list names (flags, DURABATCH_ALLOW_COMMANDS/_MODULES/_ORIGINS/_ENV,' +
        '\nor the config file\'s "allow"); nothing by default: whoever can start a workflow on the task' +
        '\nqueue chooses the processor, see docs/deployment.md "Security model". A batch\'s output directory' +
        '\nand staged source must lie under DURABATCH_HOME, ./output or a --allow-path (DURABATCH_ALLOW_PATHS).' +
        '\n\nExample:\n  TEMPORAL_ADDRESS=127.0.0.1:7233 durabatch worker --allow-origin https://api.example.com',
    )
    .action(
      async (opts: {
        taskQueue?: string;
        config?: string;
        allowCommand?: string[];
        allowModule?: string[];
        allowOrigin?: string[];
        allowPath?: string[];
        allowEnv?: string[];
      }) => {
        const home = homeDir();
        const { createLogger } = await import('../../logging/logger');
        const { openEnvironment } = await import('../../server/environment');
        const { createBatchWorker } = await import('../../worker/worker');
        const { loadConfig } = await import('../../config/load');
        const { allowListForWorker, allowsNothing, describeAllowList } =
          await import('../../worker/allow-settings');
        // The allow-list is this worker's own: settings of the file, DURABATCH_ALLOW_*, the flags.
        const { config } = await loadConfig({
          command: 'durabatch worker',
          file: opts.config,
          flags: {
            allow: {
              commands: opts.allowCommand,
              modules: opts.allowModule,
              origins: opts.allowOrigin,
              paths: opts.allowPath,
              env: opts.allowEnv,
            },
          },
          flagNames: {
            'allow.commands': '--allow-command',
            'allow.modules': '--allow-module',
            'allow.origins': '--allow-origin',
            'allow.paths': '--allow-path',
            'allow.env': '--allow-env',
          },
        });
        // Batches' files only under its own storage: DURABATCH_HOME, ./output and allow.paths.
        const allow = allowListForWorker(config.allow, home);
        await enableTypeScriptModules();
        const logger = createLogger();
        const env = await openEnvironment({ home, allowEmbedded: false });
        // SIGTERM drains: no new tasks, in-flight items get this long to finish (compose's
        // stop_grace_period is longer), then they are cancelled and retried by another worker.
        const graceSeconds = Number(process.env.DURABATCH_STOP_GRACE_SECONDS ?? 30);
        const worker = await createBatchWorker({
          connectionOptions: env.connectionOptions,
          namespace: env.namespace,
          taskQueue: opts.taskQueue,
          home,
          logger,
          allow,
          shutdownGraceMs: Number.isFinite(graceSeconds) && graceSeconds >= 0 ? graceSeconds * 1000 : 30_000,
        });
        logger.info(
          {
            address: env.address,
            namespace: env.namespace,
            taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
            metrics: process.env.DURABATCH_METRICS_ADDRESS,
            allow: describeAllowList(allow),
          },
          'worker running',
        );
        if (allowsNothing(allow)) {
          logger.warn(
            'this worker allows no program, module or origin: every item it takes fails as ProcessorNotAllowed; ' +
              'list what batches may run with --allow-command/--allow-module/--allow-origin or DURABATCH_ALLOW_*',
          );
        }
        const running = worker.run();
        const why = await Promise.race([untilSignal(), running.then(() => 'stopped')]);
        logger.info(
          { signal: why, graceSeconds },
          'worker draining: no new tasks, in-flight items finishing',
        );
        await worker.shutdown();
        logger.info('worker stopped');
        await env.close();
      },
    );
}

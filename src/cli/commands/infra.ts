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

  program
    .command('worker')
    .description('run a durabatch worker in the foreground (resumes every batch on its task queue)')
    .option('--task-queue <name>', `task queue (default ${DEFAULT_TASK_QUEUE})`)
    .addHelpText('after', '\nExample:\n  TEMPORAL_ADDRESS=127.0.0.1:7233 durabatch worker')
    .action(async (opts: { taskQueue?: string }) => {
      const home = homeDir();
      const { createLogger } = await import('../../logging/logger');
      const { openEnvironment } = await import('../../server/environment');
      const { createBatchWorker } = await import('../../worker/worker');
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
        shutdownGraceMs: Number.isFinite(graceSeconds) && graceSeconds >= 0 ? graceSeconds * 1000 : 30_000,
      });
      logger.info(
        {
          address: env.address,
          namespace: env.namespace,
          taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
          metrics: process.env.DURABATCH_METRICS_ADDRESS,
        },
        'worker running',
      );
      const running = worker.run();
      const why = await Promise.race([untilSignal(), running.then(() => 'stopped')]);
      logger.info({ signal: why, graceSeconds }, 'worker draining: no new tasks, in-flight items finishing');
      await worker.shutdown();
      logger.info('worker stopped');
      await env.close();
    });
}

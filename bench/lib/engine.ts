// Loads durabatch's engine (dev server, worker, client, config, logger) from a checkout: this
// working tree, another directory, or a git revision extracted with `git archive` into a temp dir
// (node_modules linked to this repository's). A long benchmark run from a revision (e.g. HEAD) does
// not pick up edits in progress in the working tree. Used by bench/scale.ts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Connection } from '@temporalio/client';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

export interface Engine {
  root: string;
  /** Short commit, `+uncommitted` when engine files differ from it in a working tree. */
  commit: string;
  startDevServer: typeof import('../../src/server/dev-server').startDevServer;
  createBatchWorker: typeof import('../../src/worker/worker').createBatchWorker;
  BatchClient: typeof import('../../src/client/batch-client').BatchClient;
  Config: typeof import('../../src/config/schema').Config;
  createLogger: typeof import('../../src/logging/logger').createLogger;
  /** Removes the extracted copy, if any. */
  dispose(): void;
}

/**
 * A checkout to load an engine from: a directory as it is, or a git revision of this repository
 * extracted with `git archive` into a temp dir (node_modules linked to this one's); the caller
 * removes an extracted one (it holds a `.commit` file naming its revision).
 */
export function checkout(spec: string): string {
  if (existsSync(spec) && statSync(spec).isDirectory()) return path.resolve(spec);
  const commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', spec], {
    encoding: 'utf8',
  }).trim();
  const dir = mkdtempSync(path.join(os.tmpdir(), `durabatch-engine-${commit}-`));
  execFileSync('sh', ['-c', `git -C "${repoRoot}" archive ${commit} | tar -x -C "${dir}"`]);
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, '.commit'), commit + '\n');
  return dir;
}

/** `spec`: undefined = this working tree; a directory; or a git revision of this repository. */
export async function loadEngine(spec?: string): Promise<Engine> {
  const root = spec === undefined ? repoRoot : checkout(spec);
  const extracted = spec !== undefined && root !== path.resolve(spec);
  const load = (p: string): Promise<Record<string, unknown>> =>
    import(pathToFileURL(path.join(root, p)).href) as Promise<Record<string, unknown>>;
  const [server, worker, client, schema, logger] = await Promise.all([
    load('src/server/dev-server.ts'),
    load('src/worker/worker.ts'),
    load('src/client/batch-client.ts'),
    load('src/config/schema.ts'),
    load('src/logging/logger.ts'),
  ]);
  return {
    root,
    commit: commitOf(root),
    startDevServer: server.startDevServer,
    createBatchWorker: worker.createBatchWorker,
    BatchClient: client.BatchClient,
    Config: schema.Config,
    createLogger: logger.createLogger,
    dispose: () => {
      if (extracted) rmSync(root, { recursive: true, force: true });
    },
  } as Engine;
}

/** The commit a checkout runs: its `.commit` file, else git's HEAD (`+uncommitted` when edited). */
export function commitOf(root: string): string {
  const file = path.join(root, '.commit');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', root, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  try {
    const dirty = git('status', '--porcelain', '--', 'src', 'workflows', 'activities');
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? '+uncommitted' : ''}`;
  } catch {
    return 'unknown';
  }
}

/**
 * What every durabatch measurement runs on: a fresh embedded dev server on `dbFile`, one in-process
 * worker on `taskQueue` (warnings to `<dir>/worker.log`) and a client connection; `stop()` ends all
 * three. `sqlitePragmas` replaces the engine's own (for measurements). The server is stopped again if
 * the worker cannot start.
 */
export async function startEngineStack(
  e: Engine,
  opts: { home: string; dir: string; dbFile: string; taskQueue: string; sqlitePragmas?: string[] },
) {
  const server = await e.startDevServer({
    home: opts.home,
    dbFile: opts.dbFile,
    port: 0,
    headless: true,
    sqlitePragmas: opts.sqlitePragmas,
  });
  try {
    const logger = e.createLogger({ level: 'warn', file: path.join(opts.dir, 'worker.log') });
    const worker = await e.createBatchWorker({
      connectionOptions: { address: server.address },
      namespace: 'default',
      taskQueue: opts.taskQueue,
      home: opts.home,
      logger,
      // The bench's own batches: every processor they name (an engine from before allow-lists ignores it).
      allow: { commands: ['*'], modules: ['*'], origins: ['*'], paths: ['*'] },
    });
    const running = worker.run();
    const connection = await Connection.connect({ address: server.address });
    // Once only: a signal's clean-up and the caller's `finally` may both call it.
    let stopped: Promise<void> | undefined;
    /** Shuts the worker down, closes the connection and stops the server. */
    const stop = (): Promise<void> =>
      (stopped ??= (async () => {
        await worker.shutdown();
        await running.catch(() => undefined);
        await connection.close();
        await server.stop();
      })());
    return { server, worker, running, connection, stop };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

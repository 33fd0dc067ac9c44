// The embedded Temporal server: `temporal server start-dev` with SQLite persistence under
// DURABATCH_HOME, the Web UI on, and durabatch's search attributes registered. Started as a child
// process we own (its pid is visible, so it can be stopped, or killed and restarted on the same
// database), waited on until it answers, and stopped with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { ServerUnavailableError } from '../errors';
import { tryConnect } from './connection';
import { preferredPort } from './ports';
import { findTemporalCli } from './provision';

/**
 * SQLite pragmas for throughput with durability: WAL lets readers proceed during writes and turns
 * each commit into one sequential append; synchronous=NORMAL in WAL mode still survives a process
 * crash (only an OS crash or power loss can drop the last commits). Measured in docs/performance.md.
 */
export const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

export interface DevServerOptions {
  home: string;
  ip?: string;
  /** gRPC port; default 7233 when free, otherwise a free port. */
  port?: number;
  /** Web UI port; default gRPC port + 1000 when free, otherwise a free port. */
  uiPort?: number;
  headless?: boolean;
  /** Database file; default `<home>/temporal.db`. */
  dbFile?: string;
  namespace?: string;
  /** Extra SQLite pragmas replacing SQLITE_PRAGMAS (for measurements). */
  sqlitePragmas?: string[];
  /** Server log level (default warn). */
  logLevel?: string;
  env?: NodeJS.ProcessEnv;
  log?: (msg: string) => void;
  startTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string | null;
  pid: number;
  dbFile: string;
  logFile: string;
  cliPath: string;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const log = opts.log ?? (() => undefined);
  const ip = opts.ip ?? '127.0.0.1';
  const { path: cliPath } = await findTemporalCli({ home: opts.home, env: opts.env, log });
  const port = await preferredPort(opts.port ?? 7233, ip);
  const uiPort = opts.headless ? undefined : await preferredPort(opts.uiPort ?? port + 1000, ip);
  const dbFile = opts.dbFile ?? path.join(opts.home, 'temporal.db');
  const namespace = opts.namespace ?? 'default';
  await mkdir(path.dirname(dbFile), { recursive: true });
  const logFile = path.join(opts.home, 'logs', `temporal-server-${port}.log`);
  await mkdir(path.dirname(logFile), { recursive: true });

  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--db-filename', dbFile];
  args.push('--log-level', opts.logLevel ?? 'warn', '--log-format', 'json');
  if (namespace !== 'default') args.push('--namespace', namespace);
  if (uiPort) args.push('--ui-port', String(uiPort));
  else args.push('--headless');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
    args.push('--search-attribute', `${name}=${type}`);
  for (const pragma of opts.sqlitePragmas ?? SQLITE_PRAGMAS) args.push('--sqlite-pragma', pragma);
  // A worker that schedules an activity can take it at once, without a poll round trip: less server
  // work per item, no loss of durability (measured in docs/performance.md).
  args.push('--dynamic-config-value', 'system.enableActivityEagerExecution=true');

  const out = createWriteStream(logFile, { flags: 'a' });
  // The server's log is for diagnosis: a full disk loses its lines, never the process running it.
  out.on('error', () => undefined);
  const child: ChildProcess = spawn(cliPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  log(`starting Temporal dev server on ${ip}:${port} (database ${dbFile})`);

  const address = `${ip}:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  for (;;) {
    if (exitCode !== undefined) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      throw new ServerUnavailableError(
        `the Temporal dev server exited (code ${String(exitCode)}) before answering; last lines of ${logFile}:\n${tail}`,
      );
    }
    const conn = await tryConnect({ address }, 1_000);
    if (conn) {
      await conn.close();
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new ServerUnavailableError(
        `the Temporal dev server did not answer on ${address} in time; see ${logFile}`,
      );
    }
    await delay(200);
  }

  let stopping: Promise<void> | undefined;
  return {
    address,
    namespace,
    uiUrl: uiPort ? `http://${ip === '0.0.0.0' ? '127.0.0.1' : ip}:${uiPort}` : null,
    pid: child.pid ?? -1,
    dbFile,
    logFile,
    cliPath,
    exited,
    stop: () =>
      (stopping ??= (async () => {
        if (exitCode !== undefined) return;
        child.kill('SIGTERM');
        const code = await Promise.race([exited, delay(15_000, 'timeout' as const, { ref: false })]);
        if (code === 'timeout') {
          child.kill('SIGKILL');
          await exited;
        }
        out.end();
      })()),
  };
}

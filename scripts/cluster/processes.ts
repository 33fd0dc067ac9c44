// The cluster's child processes: each in a process group of its own, its output in a log file.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isPortFree } from '../../src/server/ports';

export const run = promisify(execFile);

export interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  /** The signal that stops it cleanly; SIGTERM unless set. */
  stopSignal?: NodeJS.Signals;
}

/** A free port at most 32767: Temporal's SQL cluster_membership.rpc_port column is a SMALLINT. */
export async function lowPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!taken.has(port) && (await isPortFree(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port below 32768');
}

export function startProcess(
  file: string,
  args: string[],
  logFile: string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Proc {
  const fd = openSync(logFile, 'a');
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', fd, fd],
    detached: true, // its own process group: stop() ends it and anything it started
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return { child, exited };
}

export async function stopProcess(
  p: Proc | undefined,
  signal: NodeJS.Signals = p?.stopSignal ?? 'SIGTERM',
  graceMs = 15_000,
): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null || p.child.pid === undefined) return;
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    return;
  }
  const done = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    try {
      process.kill(-p.child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await p.exited;
  }
}

/** Stops the processes last-started first: each after those that depend on it. */
export async function stopProcesses(procs: readonly Proc[]): Promise<void> {
  for (const p of [...procs].reverse()) await stopProcess(p);
}

export async function tail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

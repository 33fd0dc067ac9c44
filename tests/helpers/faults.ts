// Real faults for the e2e suite: SIGKILL of real process ids (one process or a whole tree, found in
// /proc), and a Temporal dev server of the test's own that can be killed and started again on the
// same database file and port.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import { startDevServer, type DevServer } from '../../src/server/dev-server';
import { freePort } from '../../src/server/ports';

/** Whether a process exists and is not a zombie. */
export async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** Every descendant of `pid` (children, grandchildren, ...), from /proc's parent links. */
export async function descendants(pid: number): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parentOf.set(Number(entry), Number(fields[1]));
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** SIGKILL one process and wait until it is gone. */
export async function killHard(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  for (let i = 0; i < 200 && (await alive(pid)); i++) await sleep(25);
}

/** SIGKILL a process and every descendant at once (as a machine crash would), and wait for them. */
export async function killTree(pid: number): Promise<number[]> {
  const pids = [pid, ...(await descendants(pid))];
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const p of pids) for (let i = 0; i < 200 && (await alive(p)); i++) await sleep(25);
  return pids;
}

/** A dev server of one test (headless, own database), restartable on the same file and port. */
export interface OwnServer {
  readonly address: string;
  readonly current: DevServer;
  /** kill -9 the server process. */
  kill(): Promise<number>;
  /** Start it again on the same database file and port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOwnServer(dir: string): Promise<OwnServer> {
  const home = inject('toolsHome');
  const dbFile = path.join(dir, 'temporal.db');
  const port = await freePort();
  const start = () => startDevServer({ home, dbFile, port, headless: true });
  let current = await start();
  return {
    address: current.address,
    get current() {
      return current;
    },
    async kill() {
      const pid = current.pid;
      await killHard(pid);
      await current.exited;
      return pid;
    },
    async restart() {
      current = await start();
    },
    stop: () => current.stop(),
  };
}

// Two `durabatch run`s of the same command started together must make one batch, not two: the run
// record is read before the (slow) staging and start and written after, so each would find none.
// A lock file per run key, created with O_EXCL under DURABATCH_HOME/runs/, makes "read the record,
// start the batch, write the record" one step; the second run waits, then finds the first's record
// and follows that batch. A holder on another machine (each `docker compose run --rm cli` container
// has its own hostname on the shared volume) cannot be checked by pid: the holder keeps a lease by
// touching the lock's mtime every few seconds, and a lock nobody touched for `leaseMs` is stale.
import { randomUUID } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** What the lock file holds: who holds it, so a waiter can tell a live holder from a crashed one. */
export interface RunLockHolder {
  pid: number;
  host: string;
  acquiredAt: string;
  /** Unique per acquisition: a release removes only its own lock, never a successor's. */
  token: string;
}

export interface RunLock {
  /** Removes the lock if it is still this one (idempotent). */
  release(): Promise<void>;
}

export interface RunLockOptions {
  /** Told once when the lock is held by another live process, and again every `noticeEveryMs`. */
  onWait?: (holder: RunLockHolder | undefined, file: string) => void;
  pollMs?: number;
  noticeEveryMs?: number;
  /** A lock file without a readable holder (its writer died between create and write) older than this is stale. */
  unreadableStaleMs?: number;
  /** How often the holder touches its lock (default 5 s): the lease a process elsewhere sees. */
  refreshMs?: number;
  /** A lock not touched for this long is stale whoever holds it (default 30 s). */
  leaseMs?: number;
  /** The clock stale checks use (tests move it on). */
  now?: () => number;
  /** The host name written as the holder's (default this machine's; tests play another machine). */
  host?: string;
}

/** What a stale check needs: the lease and the clock. */
interface StaleRules {
  unreadableStaleMs: number;
  leaseMs: number;
  now: () => number;
}

export const runLockPath = (home: string, key: string) => path.join(home, 'runs', `${key}.lock`);

/** Whether a process with this id exists on this machine (EPERM: it exists, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(file: string): Promise<RunLockHolder | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  try {
    const h = text ? (JSON.parse(text) as Partial<RunLockHolder>) : undefined;
    return h && typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.token === 'string'
      ? (h as RunLockHolder)
      : undefined;
  } catch {
    return undefined;
  }
}

async function tryCreate(file: string, holder: RunLockHolder): Promise<boolean> {
  try {
    const fd = await open(file, 'wx');
    try {
      await fd.writeFile(JSON.stringify(holder));
    } finally {
      await fd.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Whether the lock's holder is gone: a dead process on this machine, a lease nobody renewed (the
 * holder on another machine was killed: its pid means nothing here), or a file that never got its
 * holder written.
 */
async function isStale(file: string, holder: RunLockHolder | undefined, rules: StaleRules): Promise<boolean> {
  // On this machine the pid is the authority (a stopped, live process keeps its lock).
  if (holder?.host === hostname()) return !processAlive(holder.pid);
  const st = await stat(file).catch(() => undefined);
  if (st === undefined) return false;
  const idle = rules.now() - st.mtimeMs;
  return holder ? idle > rules.leaseMs : idle > rules.unreadableStaleMs;
}

/**
 * Removes a stale lock. Two waiters may both find it stale: the removal itself runs under a second
 * O_EXCL file, and re-checks that the lock is still the same stale one, so no waiter ever removes a
 * lock a live run has just taken.
 */
async function removeStale(file: string, seen: RunLockHolder | undefined, rules: StaleRules): Promise<void> {
  const takeover = `${file}.takeover`;
  const me: RunLockHolder = {
    pid: process.pid,
    host: hostname(),
    acquiredAt: new Date().toISOString(),
    token: randomUUID(),
  };
  if (!(await tryCreate(takeover, me))) {
    // Another waiter is removing it; a takeover file left by a waiter that died is stale by its age.
    const st = await stat(takeover).catch(() => undefined);
    if (st && rules.now() - st.mtimeMs > rules.leaseMs) await rm(takeover, { force: true });
    return;
  }
  try {
    const now = await readHolder(file);
    const same = seen ? now?.token === seen.token : now === undefined;
    if (same && (await isStale(file, now, rules))) await rm(file, { force: true });
  } finally {
    await rm(takeover, { force: true });
  }
}

/** Takes the lock of this run key, waiting while another live process holds it. */
export async function acquireRunLock(home: string, key: string, opts: RunLockOptions = {}): Promise<RunLock> {
  const file = runLockPath(home, key);
  await mkdir(path.dirname(file), { recursive: true });
  const me: RunLockHolder = {
    pid: process.pid,
    host: opts.host ?? hostname(),
    acquiredAt: new Date().toISOString(),
    token: randomUUID(),
  };
  const rules: StaleRules = {
    unreadableStaleMs: opts.unreadableStaleMs ?? 10_000,
    leaseMs: opts.leaseMs ?? 30_000,
    now: opts.now ?? Date.now,
  };
  let noticedAt: number | undefined;
  while (!(await tryCreate(file, me))) {
    const holder = await readHolder(file);
    if (await isStale(file, holder, rules)) {
      await removeStale(file, holder, rules);
      // Another waiter may be removing it at the same moment: do not spin while it does.
      await delay(Math.min(opts.pollMs ?? 200, 20));
      continue;
    }
    if (noticedAt === undefined || Date.now() - noticedAt >= (opts.noticeEveryMs ?? 30_000)) {
      noticedAt = Date.now();
      opts.onWait?.(holder, file);
    }
    await delay(opts.pollMs ?? 200);
  }
  // A run that exits without releasing (an error, Ctrl-C) must not leave its lock to the next one.
  const onExit = () => {
    try {
      unlinkSync(file);
    } catch {
      // already released
    }
  };
  process.once('exit', onExit);
  // The lease: touched while held, so a run on another machine never takes a live lock over (a
  // failed touch is retried at the next tick; the lock file is gone only if someone judged it stale).
  const lease = setInterval(() => {
    const t = new Date();
    void utimes(file, t, t).catch(() => undefined);
  }, opts.refreshMs ?? 5_000);
  lease.unref();
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(lease);
      process.off('exit', onExit);
      if ((await readHolder(file))?.token === me.token) await rm(file, { force: true });
    },
  };
}

// The per-command run lock: one holder at a time, a waiter gets it when the holder releases, and a
// lock left by a process that died is taken over (only once, even by two waiters at the same time).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { acquireRunLock, runLockPath } from '../../src/home/run-lock';

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('run lock', () => {
  it('a second acquirer waits until the first releases', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'run-lock-'));
    const first = await acquireRunLock(home, 'k');
    const waits: unknown[] = [];
    let got = false;
    const second = acquireRunLock(home, 'k', { pollMs: 10, onWait: (h) => waits.push(h) }).then((l) => {
      got = true;
      return l;
    });
    await delay(200);
    expect(got).toBe(false);
    expect(waits).toEqual([expect.objectContaining({ pid: process.pid, host: hostname() })]);
    await first.release();
    const lock = await second;
    expect(got).toBe(true);
    await lock.release();
    await expect(readFile(runLockPath(home, 'k'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('different commands do not wait for each other', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'run-lock-'));
    const a = await acquireRunLock(home, 'a');
    const b = await acquireRunLock(home, 'b', { onWait: () => expect.fail('waited') });
    await a.release();
    await b.release();
  });

  it("a dead holder's lock is taken over, once, by one of two waiters", async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'run-lock-'));
    const file = runLockPath(home, 'k');
    await mkdir(path.dirname(file), { recursive: true });
    const stale = {
      pid: await deadPid(),
      host: hostname(),
      acquiredAt: '2020-01-01T00:00:00Z',
      token: 'dead',
    };
    await writeFile(file, JSON.stringify(stale));
    let holders = 0;
    let most = 0;
    const take = async () => {
      const lock = await acquireRunLock(home, 'k', { pollMs: 5 });
      holders += 1;
      most = Math.max(most, holders);
      await delay(50);
      holders -= 1;
      await lock.release();
    };
    await Promise.all([take(), take(), take()]);
    expect(most).toBe(1);
  });

  it('a live holder on another machine is waited for, not taken over', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'run-lock-'));
    const file = runLockPath(home, 'k');
    await mkdir(path.dirname(file), { recursive: true });
    const other = {
      pid: await deadPid(),
      host: `not-${hostname()}`,
      acquiredAt: '2020-01-01T00:00:00Z',
      token: 'x',
    };
    await writeFile(file, JSON.stringify(other));
    let got = false;
    const waiting = acquireRunLock(home, 'k', { pollMs: 10 }).then((l) => {
      got = true;
      return l;
    });
    await delay(200);
    expect(got).toBe(false);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(other);
    // That machine's run releases it: the waiter gets it.
    await rm(file);
    await (await waiting).release();
    expect(got).toBe(true);
  });
});

// A lease for holders elsewhere: each `docker compose run --rm cli` container has its own hostname on
// the shared volume, so a pid there means nothing here; the holder touches its lock, and a lock nobody
// touched for the lease is stale. Intervals and the clock are injected so this runs in milliseconds.
describe('run lock lease', () => {
  async function otherMachineLock(home: string, ageMs: number) {
    const file = runLockPath(home, 'k');
    await mkdir(path.dirname(file), { recursive: true });
    const other = {
      pid: process.pid,
      host: `not-${hostname()}`,
      acquiredAt: '2020-01-01T00:00:00Z',
      token: 'x',
    };
    await writeFile(file, JSON.stringify(other));
    const then = new Date(Date.now() - ageMs);
    await utimes(file, then, then);
    return file;
  }

  it('a lock from another machine not touched for the lease is taken over', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'run-lock-'));
    const file = await otherMachineLock(home, 31_000);
    const lock = await acquireRunLock(home, 'k', { pollMs: 5, onWait: () => expect.fail('waited') });
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    await lock.release();
  });

  it('one from another machine touched within the lease is waited for', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'run-lock-'));
    await otherMachineLock(home, 29_000);
    let got = false;
    const waits: unknown[] = [];
    const clock = { skew: 0 };
    const waiting = acquireRunLock(home, 'k', {
      pollMs: 5,
      onWait: (h) => waits.push(h),
      now: () => Date.now() + clock.skew,
    }).then((l) => {
      got = true;
      return l;
    });
    await delay(100);
    expect(got).toBe(false);
    expect(waits).toEqual([expect.objectContaining({ host: `not-${hostname()}` })]);
    // Two more seconds without a touch: past the 30 s lease.
    clock.skew = 2_000;
    await (await waiting).release();
    expect(got).toBe(true);
  });

  it('the holder renews its lease, so a live holder elsewhere is never taken over', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'run-lock-'));
    const file = runLockPath(home, 'k');
    // The holder plays another machine; it touches its lock every 10 ms.
    const holder = await acquireRunLock(home, 'k', { host: `not-${hostname()}`, refreshMs: 10 });
    const old = new Date(Date.now() - 60_000);
    await utimes(file, old, old);
    await delay(60);
    expect(Date.now() - (await stat(file)).mtimeMs).toBeLessThan(1_000);
    let got = false;
    const waiting = acquireRunLock(home, 'k', { pollMs: 5, leaseMs: 200 }).then((l) => {
      got = true;
      return l;
    });
    await delay(600); // three leases: renewed all along
    expect(got).toBe(false);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ host: `not-${hostname()}` });
    await holder.release();
    await (await waiting).release();
    expect(got).toBe(true);
  });

  it('a holder that stopped renewing (killed) loses the lock after the lease', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'run-lock-'));
    const file = runLockPath(home, 'k');
    await otherMachineLock(home, 0);
    const started = Date.now();
    const lock = await acquireRunLock(home, 'k', { pollMs: 5, leaseMs: 150 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ host: hostname() });
    await lock.release();
  });
});

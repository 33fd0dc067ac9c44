// The per-command run lock: one holder at a time, a waiter gets it when the holder releases, and a
// lock left by a process that died is taken over (only once, even by two waiters at the same time).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

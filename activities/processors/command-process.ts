// Running one program in a process group of its own: bounded capture of its output, and the whole
// group killed (SIGTERM, then SIGKILL) on a timeout or a cancel. (The activity heartbeats meanwhile.)
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProcessorContext } from './context';
import { ProgressLines } from './command-progress';

/** Bytes of stdout (head) and of stderr (tail) kept per run: the rest is read and dropped. */
export const MAX_CAPTURE_BYTES = 64 * 1024;
/** Between SIGTERM and SIGKILL at a timeout, and for stragglers of a program that exited by itself. */
export const KILL_GRACE_MS = 2_000;
const PIPES: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe']; // no stdin: a prompt gets EOF

/**
 * Keeps at most MAX_CAPTURE_BYTES of a stream, reading and dropping the rest: the head (stdout, where
 * a JSON result starts) or the tail (stderr, where the reason a program failed usually is).
 */
export class BoundedCapture {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly keep: 'head' | 'tail') {}
  push(chunk: Buffer): void {
    const room = MAX_CAPTURE_BYTES - this.size;
    if (this.keep === 'head' && chunk.length > room) {
      this.truncated = true;
      chunk = chunk.subarray(0, Math.max(0, room));
    }
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= MAX_CAPTURE_BYTES) {
      this.size -= this.chunks.shift()!.length;
      this.truncated = true;
    }
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - MAX_CAPTURE_BYTES)).toString('utf8');
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    // Negative pid: the whole process group the program leads.
    process.kill(process.platform === 'win32' ? pid : -pid, signal);
    return true;
  } catch {
    return false; // ESRCH: nothing left in the group
  }
}

/**
 * Whether a live process is left in the group. Orphans killed with the group stay zombies until
 * init reaps them, which some container inits do late, and kill(-pgid, 0) counts zombies: on Linux,
 * look for a member that is not one.
 */
async function groupAlive(pgid: number): Promise<boolean> {
  if (!signalGroup(pgid, 0)) return false;
  if (process.platform !== 'linux') return true;
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (pgrp === String(pgid) && state !== 'Z') return true;
  }
  return false;
}

/**
 * SIGTERM to the group, SIGKILL after the grace period if anything is left. The kernel does not
 * reuse a pid while a group still has members, so `-pid` can only reach this program's processes.
 */
async function reapGroup(pid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(50);
    if (!(await groupAlive(pid))) return;
  }
  signalGroup(pid, 'SIGKILL');
  // SIGKILL is delivered asynchronously: report done only once the group is really gone.
  for (let i = 0; i < 20 && (await groupAlive(pid)); i++) await sleep(50);
}

export interface RunResult {
  /** Why the run was ended from outside, if it was. */
  forced?: 'timeout' | 'aborted';
  spawnError?: NodeJS.ErrnoException;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stdoutTruncated: boolean;
  stderr: string;
}

export function execute(
  argv: string[],
  options: { cwd?: string; env: NodeJS.ProcessEnv },
  timeoutMs: number,
  ctx: ProcessorContext,
): Promise<RunResult> {
  return new Promise((resolve) => {
    const stdout = new BoundedCapture('head');
    const stderr = new BoundedCapture('tail');
    const result = (extra: Partial<RunResult>): RunResult => ({
      ...{ code: null, signal: null, stdout: stdout.text(), stderr: stderr.text() },
      stdoutTruncated: stdout.truncated,
      ...extra,
    });
    let child;
    try {
      // detached: the program leads a new process group, which the kill below targets.
      child = spawn(argv[0]!, argv.slice(1), { ...options, shell: false, detached: true, stdio: PIPES });
    } catch (err) {
      // Synchronous refusals (a NUL byte in an argument) fail the same way on every attempt.
      resolve(result({ spawnError: err as NodeJS.ErrnoException }));
      return;
    }
    const pid = child.pid;
    let forced: RunResult['forced'];
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let closed = false;
    let reaping: Promise<void> | undefined;
    let settled = false;

    const timer = timeoutMs > 0 ? setTimeout(() => stop('timeout'), timeoutMs) : undefined;
    let fallback: NodeJS.Timeout | undefined;
    const onAbort = (): void => stop('aborted');

    // A cancelled item's program gets the item's stop grace to clean up; a hung program (timeout)
    // and stragglers of a program that exited by itself get the short default.
    const reap = (graceMs = KILL_GRACE_MS): Promise<void> =>
      (reaping ??= pid === undefined ? Promise.resolve() : reapGroup(pid, graceMs));
    function stop(why: 'timeout' | 'aborted'): void {
      if (exit || forced) return;
      forced = why;
      void reap(why === 'aborted' ? ctx.stopGraceMs : KILL_GRACE_MS);
    }
    function finish(extra: Partial<RunResult>): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(fallback);
      ctx.signal.removeEventListener('abort', onAbort);
      resolve(result({ forced, ...exit, ...extra }));
    }
    // Done once the pipes are closed and the group is gone, so no straggler outlives the item.
    const maybeFinish = (): void => {
      if (closed && exit) void reap().then(() => finish({}));
    };

    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    const progress = ctx.progress ? new ProgressLines((p) => ctx.progress?.(p)) : undefined;
    child.stderr.on('data', (c: Buffer) => {
      stderr.push(c);
      progress?.push(c);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (pid === undefined) finish({ spawnError: err });
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Background children of a program that exited still hold our pipes: end them too.
      void reap().then(maybeFinish);
      // A process that escaped the group (setsid) could hold the pipes forever: stop waiting.
      fallback = setTimeout(
        () => {
          child.stdout.destroy();
          child.stderr.destroy();
          closed = true;
          maybeFinish();
        },
        Math.max(KILL_GRACE_MS, forced === 'aborted' ? ctx.stopGraceMs : 0) + 1_000,
      );
    });
    child.on('close', () => {
      closed = true;
      maybeFinish();
    });
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
}

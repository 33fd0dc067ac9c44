// What every example shares: run the real `durabatch` command as a child process (its progress on
// this terminal, its stdout returned), make sure a Temporal server is there for the commands that
// follow a run (the one TEMPORAL_ADDRESS names, else `durabatch server` in the background), and
// print one verdict line. Examples run from the project root, like a user in a fresh clone.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'durabatch.js');

const say = (line: string) => process.stderr.write(`${line}\n`);

/** A path as the user would type it from the project root. */
export const rel = (p: string) => path.relative(ROOT, p) || '.';

/**
 * Where an example writes the inputs it makes (images, a workbook) and its archive:
 * EXAMPLE_WORK_DIR if set (tests), else output/examples/<name>.
 */
export function workDir(name: string): string {
  return path.resolve(process.env.EXAMPLE_WORK_DIR ?? path.join(ROOT, 'output', 'examples', name));
}

export interface CliRun {
  code: number;
  stdout: string;
}

export interface RunningCli {
  child: ChildProcess;
  done: Promise<CliRun>;
}

/** Environment laid over this process's for every command (the server address once known). */
const extraEnv: NodeJS.ProcessEnv = {};

/** Starts `durabatch <args>`: stderr (progress, messages) on this terminal, stdout collected. */
export function startDurabatch(args: string[], opts: { quiet?: boolean } = {}): RunningCli {
  if (!opts.quiet) say(`\n$ durabatch ${args.map(quote).join(' ')}`);
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', opts.quiet ? 'pipe' : 'inherit'],
  });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.resume(); // quiet: drained, not shown
  const done = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code: code ?? (signal ? 130 : 1), stdout }));
  });
  running.add(child);
  void done.finally(() => running.delete(child)).catch(() => undefined);
  return { child, done };
}

/** Runs `durabatch <args>` to its end. */
export function durabatch(args: string[], opts: { quiet?: boolean } = {}): Promise<CliRun> {
  return startDurabatch(args, opts).done;
}

/** Runs a command whose stdout is one JSON document (`--json`), and parses it. */
export async function durabatchJson<T>(args: string[], opts: { quiet?: boolean } = {}): Promise<T & CliRun> {
  const res = await durabatch(args, opts);
  try {
    return { ...(JSON.parse(res.stdout) as T), ...res };
  } catch {
    throw new Error(
      `durabatch ${args[0]} exited ${res.code} without JSON on stdout: ${res.stdout.slice(0, 300)}`,
    );
  }
}

const quote = (a: string) => (/^[\w@%+=:,./{}-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

const running = new Set<ChildProcess>();
let stopServer: (() => Promise<void>) | undefined;

// Ctrl-C: the children get it too (same process group); wait for them, then stop our server.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void Promise.all([...running].map((c) => new Promise((r) => c.once('exit', r))))
      .then(() => stopServer?.())
      .finally(() => process.exit(130));
  });
}

function answers(address: string): Promise<boolean> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.split(':').pop())];
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    socket.once('connect', () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

/**
 * The Temporal server the example's commands share. `durabatch run` alone would start the embedded
 * server and stop it when the batch ends; these examples run more commands on the batch afterwards
 * (status, report, set, resume), so they keep one up for the whole example: the server named by
 * TEMPORAL_ADDRESS, or one `durabatch server` left running for DURABATCH_HOME, or else they start
 * `durabatch server` (the same embedded server, in the background) and stop it at the end.
 */
export async function useTemporalServer(): Promise<void> {
  if (process.env.TEMPORAL_ADDRESS) return;
  const home = path.resolve(ROOT, process.env.DURABATCH_HOME ?? '.durabatch');
  const record = await readFile(path.join(home, 'server.json'), 'utf8').catch(() => undefined);
  const recorded = record ? (JSON.parse(record) as { address?: string }).address : undefined;
  if (recorded && (await answers(recorded))) {
    extraEnv.TEMPORAL_ADDRESS = recorded;
    say(`using the Temporal server already running at ${recorded}`);
    return;
  }
  say('\n$ durabatch server   # in the background, for the commands of this example');
  const server = spawn(process.execPath, [BIN, 'server'], {
    cwd: ROOT,
    env: process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const address = await new Promise<string>((resolve, reject) => {
    let seen = '';
    server.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      seen += chunk;
      const m = /ready at (\S+)/.exec(seen);
      if (m) resolve(m[1]!);
    });
    server.once('exit', (code) =>
      reject(new Error(`durabatch server exited with code ${code} before it was ready:\n${seen.trim()}`)),
    );
  });
  const exited = new Promise((r) => server.once('exit', r));
  stopServer = async () => {
    server.kill('SIGTERM');
    await exited;
  };
  extraEnv.TEMPORAL_ADDRESS = address;
  say(`Temporal server ready at ${address}`);
}

/** Every file under `dir`, recursively (none when it does not exist). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((e) => {
      const full = path.join(dir, e.name);
      return e.isDirectory() ? filesUnder(full) : Promise.resolve(e.isFile() ? [full] : []);
    }),
  );
  return nested.flat();
}

/** Prints the example's verdict and exits: 0 when `ok`, else 1. Stops a server this example started. */
export async function finish(name: string, ok: boolean, verdict: string): Promise<never> {
  await stopServer?.();
  say(`\n${name}: ${verdict}`);
  say(ok ? `${name}: OK` : `${name}: FAILED`);
  process.exit(ok ? 0 : 1);
}

/** Runs an example's main; an unexpected error is printed without a stack trace dump and exits 1. */
export function main(name: string, fn: () => Promise<void>): void {
  fn().catch(async (err: unknown) => {
    await stopServer?.().catch(() => undefined);
    say(`\n${name}: ${err instanceof Error ? err.message : String(err)}`);
    say(`${name}: FAILED`);
    process.exit(1);
  });
}

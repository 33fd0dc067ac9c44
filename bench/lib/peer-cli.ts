// The `<mode>+cli` contenders of bench/peers.ts: the same batch as the engine-only mode, run by
// `durabatch run` as a user starts it — the built CLI of the same checkout (node bin/durabatch.js)
// with its in-process worker, progress, result pages and report, the mode's settings given as its
// flags, no terminal (CI=true), on a task queue of its own (run's default) — against a fresh dev
// server the bench starts, so the server's CPU is measured as for the engine-only modes.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { FLAG_OF_SETTING } from '../../src/cli/batch-options';
import type { Engine } from './engine';
import { httpSpec, type Cleanups, type CliPhases, type Sample, type Turn } from './peer-contenders';
import { historyOf, settledIdleCpu, untilAllClosed } from './peer-server';
import { endedChildrenCpuMs, processTreeCpuMs } from './proc-cpu';

/**
 * A mode's settings as `run`'s flags (`itemsPerChild: 100` → `--items-per-child 100`), through the
 * CLI's own setting → flag table, so a mode added to peer-durabatch.ts needs nothing here.
 */
export function cliFlags(settings: Record<string, unknown>): string[] {
  return Object.entries(settings).flatMap(([setting, value]) => {
    const flag = FLAG_OF_SETTING[setting];
    if (!flag) throw new Error(`no \`durabatch run\` flag sets ${setting}`);
    if (value === true) return [flag];
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new Error(`${flag}: ${JSON.stringify(value)} is not a flag's value`);
    }
    return [flag, String(value)];
  });
}

/** What `run` prints once its batch has started, and in its summary (src/cli/run-batch.ts, progress-view.ts). */
const STARTED = /^batch \S+: \d+ items$/;
const SUMMARY = /^batch \S+ (completed|partial_failure|failed|cancelled)\b/;
const TOTALS = /^ {2}total \d+ = succeeded (\d+) \+ failed (\d+)/;

export async function runThroughCli(opts: {
  engine: Engine;
  mode: string;
  settings: Record<string, unknown>;
  /** The bench's durabatch home: the dev server's tools, and the workflow bundle cache `run` reuses. */
  home: string;
  turn: Turn;
  csv: string;
  cleanups: Cleanups;
}): Promise<Sample & { temporalVersion: string }> {
  const { engine: e, mode, settings, home, csv, cleanups } = opts;
  const { target, round, concurrency } = opts.turn;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-peers-cli-'));
  const server = await e.startDevServer({
    home,
    dbFile: path.join(dir, 'bench.db'),
    port: 0,
    headless: true,
  });
  let connection: Connection | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await connection?.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    })());
  cleanups.add(stop);
  try {
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const temporalVersion = execFileSync(server.cliPath, ['--version'], { encoding: 'utf8' }).trim();
    // A home of its own (run records, staging), with the workflow bundle cache the bench's worker
    // uses: a user's second `run` finds its bundle built, and so does this one.
    const cliHome = path.join(dir, 'home');
    await mkdir(path.join(home, 'bundles'), { recursive: true });
    await mkdir(cliHome);
    await symlink(path.join(home, 'bundles'), path.join(cliHome, 'bundles'));
    const batchId = `peers-${mode.replace(/[@+]/g, '-')}-r${round}-${Date.now()}`;
    const args = [
      path.join(e.root, 'bin', 'durabatch.js'),
      'run',
      csv,
      '--url',
      httpSpec(target.url, concurrency).url,
      '--id-column',
      'id',
      '--concurrency',
      String(concurrency),
      '--connections',
      String(concurrency),
      '--batch-id',
      batchId,
      '--output-dir',
      path.join(dir, 'out'),
      ...cliFlags(settings),
    ];
    const env = {
      ...process.env,
      CI: 'true',
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: 'default',
      DURABATCH_HOME: cliHome,
    };
    const serverIdle = await settledIdleCpu(server.pid);
    const server0 = processTreeCpuMs(server.pid);
    const ended0 = endedChildrenCpuMs();
    const t0 = performance.now();
    const cli = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = once(cli, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const stderr: string[] = [];
    let started: { at: number; cpuMs: number } | undefined;
    let summary: { at: number; cpuMs: number } | undefined;
    let totals: { ok: number; failed: number } | undefined;
    let firstFailure: string | undefined;
    const lines = createInterface({ input: cli.stderr });
    const allRead = once(lines, 'close');
    lines.on('line', (line) => {
      stderr.push(line);
      // The CLI's own CPU at each phase's end, its worker threads and any child included.
      const mark = () => ({ at: performance.now(), cpuMs: processTreeCpuMs(cli.pid!) });
      if (!started && STARTED.test(line)) started = mark();
      else if (!summary && SUMMARY.test(line)) summary = mark();
      const t = TOTALS.exec(line);
      if (t) totals = { ok: Number(t[1]), failed: Number(t[2]) };
      if (!firstFailure && line.startsWith('failed ')) firstFailure = line;
    });
    const [code, signal] = await exited;
    const seconds = (performance.now() - t0) / 1000;
    const exitedAt = performance.now();
    // Waited for by now: the CLI's CPU in all, its worker and its own children included.
    const cliCpuMs = endedChildrenCpuMs() - ended0;
    await allRead;
    if (!started || !summary || !totals) {
      throw new Error(
        `${mode}: \`durabatch run\` exited with ${signal ?? code} before its summary:\n` +
          stderr.slice(-20).join('\n'),
      );
    }
    await untilAllClosed(client);
    const serverCpuMs = processTreeCpuMs(server.pid) - server0;
    const history = await historyOf(client);
    if (totals.failed > 0)
      console.error(`${mode} round ${round}: ${totals.failed} items failed: ${firstFailure}`);
    const cliPhases: CliPhases = {
      startupSeconds: (started.at - t0) / 1000,
      startupCpuMs: started.cpuMs,
      followSeconds: (summary.at - started.at) / 1000,
      followCpuMs: summary.cpuMs - started.cpuMs,
      exitSeconds: (exitedAt - summary.at) / 1000,
      exitCpuMs: cliCpuMs - summary.cpuMs,
    };
    return {
      ok: totals.ok,
      failed: totals.failed,
      seconds,
      serverCpuMs,
      workerCpuMs: cliCpuMs,
      serverIdleCpuMsPerSecond: serverIdle,
      ...history,
      cli: cliPhases,
      temporalVersion,
      ...(totals.failed > 0 ? { note: firstFailure ?? `exit code ${code}` } : {}),
    };
  } finally {
    await stop();
    cleanups.delete(stop);
  }
}

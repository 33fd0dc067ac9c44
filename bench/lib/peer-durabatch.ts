// The durabatch contenders of bench/peers.ts: each mode is a set of extra Config settings run by the
// engine of one checkout (this tree, or an extracted revision), on a fresh embedded dev server per
// turn, either by one worker in the bench process (engine only) or by `durabatch run` as a user
// starts it (`<mode>+cli`, ./peer-cli.ts).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { loadEngine, startEngineStack, type Engine } from './engine';
import { runThroughCli } from './peer-cli';
import { httpSpec, type Cleanups, type Sample, type Turn } from './peer-contenders';
import { historyOf, settledIdleCpu, untilAllClosed } from './peer-server';
import { processTreeCpuMs, selfCpuMs } from './proc-cpu';

/** A durabatch contender: extra Config settings, the checkout whose engine runs them, and how. */
export interface DurabatchMode {
  settings: Record<string, unknown>;
  root: string;
  /** `engine`: a worker in the bench, batches started by its client; `cli`: `durabatch run`. */
  via: 'engine' | 'cli';
}

/** The suffix of a mode run by the baseline checkout: `page@base` is `page` from another revision. */
export const BASE_SUFFIX = '@base';
/** The suffix of a mode run end to end by `durabatch run`: `page+cli` (`page+cli@base` from the base). */
export const CLI_SUFFIX = '+cli';

/**
 * The durabatch modes by name, each also as `<mode>+cli` (the same batch through `durabatch run`);
 * with a baseline checkout also each as `<mode>@base` and `<mode>+cli@base` (the same from another
 * revision, to measure before and after in the same run).
 */
export function durabatchModes(
  engineRoot: string,
  itemsPerPage: number,
  baselineRoot?: string,
): Record<string, DurabatchMode> {
  const settings: Record<string, Record<string, unknown>> = {
    'per-item': {},
    page: { itemsPerChild: itemsPerPage },
    'page-local': { itemsPerChild: itemsPerPage, itemExecution: 'local' },
    // Runner pages are as large as a page may be: their fixed cost spreads over 1,000 items.
    runner: { itemsPerChild: 1_000, itemExecution: 'runner' },
    // Not in the default list: one child per item whose steps run as local activities (item 4).
    'per-item-local': { itemExecution: 'local' },
  };
  const modes: Record<string, DurabatchMode> = {};
  const roots: [string, string][] = [['', engineRoot]];
  if (baselineRoot) roots.push([BASE_SUFFIX, baselineRoot]);
  for (const [suffix, root] of roots) {
    for (const [name, s] of Object.entries(settings)) {
      modes[name + suffix] = { settings: s, root, via: 'engine' };
      modes[name + CLI_SUFFIX + suffix] = { settings: s, root, via: 'cli' };
    }
  }
  return modes;
}

/**
 * Runs the durabatch modes. `home` is the durabatch home the dev server uses; servers are
 * registered in `cleanups` while they run. Engines are loaded once per checkout.
 */
export function durabatchContender(opts: {
  modes: Record<string, DurabatchMode>;
  home: string;
  cleanups: Cleanups;
}) {
  const { modes, home, cleanups } = opts;
  const engines = new Map<string, Engine>();
  let temporalVersion: string | undefined;

  /** The engine at `root` (a directory: this tree, or an extracted revision), loaded once. */
  async function engine(root: string): Promise<Engine> {
    let e = engines.get(root);
    if (!e) engines.set(root, (e = await loadEngine(root)));
    return e;
  }

  /** Why this checkout's Config refuses the mode's settings (the modes of items 2-3 may be missing), or null. */
  async function supported(mode: string): Promise<string | null> {
    const { settings, root } = modes[mode]!;
    const { Config } = await engine(root);
    const parsed = Config.safeParse({ http: { url: 'http://127.0.0.1/x' }, ...settings });
    return parsed.success ? null : parsed.error.issues.map((i) => i.message).join('; ');
  }

  async function run(mode: string, turn: Turn, csv: string): Promise<Sample> {
    const { settings, root, via } = modes[mode]!;
    const e = await engine(root);
    if (via === 'cli') {
      const sample = await runThroughCli({ engine: e, mode, settings, home, turn, csv, cleanups });
      temporalVersion ??= sample.temporalVersion;
      return sample;
    }
    const { target, round, concurrency } = turn;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-peers-'));
    const {
      server,
      connection,
      stop: stopStack,
    } = await startEngineStack(e, {
      home,
      dir,
      dbFile: path.join(dir, 'bench.db'),
      taskQueue: 'bench',
    });
    const stop = async (): Promise<void> => {
      await stopStack();
      await rm(dir, { recursive: true, force: true });
    };
    cleanups.add(stop);
    temporalVersion ??= execFileSync(server.cliPath, ['--version'], { encoding: 'utf8' }).trim();
    try {
      const client = new Client({ connection });
      const batches = new e.BatchClient(client, { namespace: 'default', taskQueue: 'bench', home: dir });
      const config = e.Config.parse({
        batchId: `peers-${mode.replace('@', '-')}-r${round}-${Date.now()}`,
        idColumn: 'id',
        concurrency,
        http: { url: httpSpec(target.url, concurrency).url, connections: concurrency },
        outputDir: path.join(dir, 'out'),
        taskQueue: 'bench',
        ...settings,
      });
      // Let the server settle after start-up, and measure what it burns idle.
      const serverIdle = await settledIdleCpu(server.pid);
      const server0 = processTreeCpuMs(server.pid);
      const cpu0 = selfCpuMs();
      const t0 = performance.now();
      const started = await batches.start(csv, config);
      const result = (await started.handle.result()) as {
        succeeded: number;
        failed: number;
        runNumber?: number;
      };
      const seconds = (performance.now() - t0) / 1000;
      let note: string | undefined;
      if (result.failed > 0) {
        // Say why, while the batch can still be asked (the server and its database go at the end).
        const failures = await started.handle
          .query<{ key: string; errorType: string; errorMessage: string }[]>('failures')
          .catch(() => []);
        const first = failures[0];
        note = first ? `${first.key}: ${first.errorType}: ${first.errorMessage}` : 'failures not readable';
        console.error(`${mode} round ${round}: ${result.failed} items failed; first: ${note}`);
      }
      // CPU until the last workflow is closed (children finish just after the parent has counted them).
      await untilAllClosed(client);
      const serverCpuMs = processTreeCpuMs(server.pid) - server0;
      const workerCpuMs = selfCpuMs() - cpu0;
      const history = await historyOf(client);
      return {
        ok: result.succeeded,
        failed: result.failed,
        seconds,
        serverCpuMs,
        workerCpuMs,
        serverIdleCpuMsPerSecond: serverIdle,
        ...history,
        note,
      };
    } finally {
      await stop();
      cleanups.delete(stop);
    }
  }

  /** The Temporal CLI's version, once a durabatch turn has started a server. */
  const version = (): string | undefined => temporalVersion;
  return { supported, run, temporalVersion: version };
}

// The durabatch contenders of bench/peers.ts: each mode is a set of extra Config settings run by the
// engine of one checkout (this tree, or an extracted revision), on a fresh embedded dev server and
// one in-process worker per turn.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Client } from '@temporalio/client';
import { loadEngine, startEngineStack, type Engine } from './engine';
import { httpSpec, type Cleanups, type Sample, type Turn } from './peer-contenders';
import { processTreeCpuMs, selfCpuMs } from './proc-cpu';

/** A durabatch contender: extra Config settings and the checkout whose engine runs them. */
export interface DurabatchMode {
  settings: Record<string, unknown>;
  root: string;
}

/** The suffix of a mode run by the baseline checkout: `page@base` is `page` from another revision. */
export const BASE_SUFFIX = '@base';

/**
 * The durabatch modes by name; with a baseline checkout also each as `<mode>@base` (the same mode
 * from another revision, to measure before and after in the same run).
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
  for (const [name, s] of Object.entries(settings)) modes[name] = { settings: s, root: engineRoot };
  if (baselineRoot) {
    for (const [name, s] of Object.entries(settings)) {
      modes[name + BASE_SUFFIX] = { settings: s, root: baselineRoot };
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

  async function run(mode: string, { target, round, concurrency }: Turn, csv: string): Promise<Sample> {
    const { settings, root } = modes[mode]!;
    const e = await engine(root);
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
      await delay(2_000);
      const idle0 = processTreeCpuMs(server.pid);
      await delay(2_000);
      const serverIdle = (processTreeCpuMs(server.pid) - idle0) / 2;
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
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const { count } = await client.workflow.count('ExecutionStatus = "Running"');
        if (count === 0) break;
        await delay(200);
      }
      const serverCpuMs = processTreeCpuMs(server.pid) - server0;
      const workerCpuMs = selfCpuMs() - cpu0;
      // History events of every execution on this fresh server: parent runs and children.
      let historyEvents = 0;
      let workflowExecutions = 0;
      let parentRuns = 0;
      for await (const wf of client.workflow.list()) {
        workflowExecutions++;
        if (wf.type === 'batchWorkflow') parentRuns++;
        let length = wf.historyLength;
        if (!length)
          length = (await client.workflow.getHandle(wf.workflowId, wf.runId).describe()).historyLength;
        historyEvents += length;
      }
      return {
        ok: result.succeeded,
        failed: result.failed,
        seconds,
        serverCpuMs,
        workerCpuMs,
        serverIdleCpuMsPerSecond: serverIdle,
        historyEvents,
        workflowExecutions,
        parentRuns,
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

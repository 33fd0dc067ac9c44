// What bench/peers.ts records and prints: one Measurement per contender and round, then the summary
// (medians and ratios over the rounds) as JSON and as a table, then issue 13's targets checked.
import os from 'node:os';
import type { Sample } from './peer-contenders';
import { BASE_SUFFIX, CLI_SUFFIX } from './peer-durabatch';
import type { TargetProcess } from './target';

export interface Measurement {
  benchmark: 'peers';
  run: string;
  contender: string;
  round: number;
  items: number;
  concurrency: number;
  latencyMs: number;
  ok: number;
  failed: number;
  seconds: number;
  itemsPerSecond: number;
  /** Temporal dev server or redis-server (with descendants); null for the plain loop. */
  serverCpuMsPerItem: number | null;
  /** This process: worker + client + bench (+ the BullMQ Worker, or the loop); `+cli`: the `durabatch run` process. */
  workerCpuMsPerItem: number;
  totalCpuMsPerItem: number;
  /** Idle CPU of the server before the start, ms per second (what it burns doing nothing). */
  serverIdleCpuMsPerSecond: number | null;
  historyEvents: number | null;
  historyEventsPerItem: number | null;
  workflowExecutions: number | null;
  parentRuns: number | null;
  targetRequests: number;
  targetEffects: number;
  targetCpuMsPerItem: number;
  workerRssMb: number;
  loadAverage1m: number;
  /** A `+cli` contender: its command's phases, wall seconds and its process's CPU ms per item. */
  cli?: {
    startupSeconds: number;
    startupCpuMsPerItem: number;
    followSeconds: number;
    followCpuMsPerItem: number;
    exitSeconds: number;
    exitCpuMsPerItem: number;
  };
  note?: string;
}

/** The run's settings every record repeats. */
export interface RunSettings {
  runId: string;
  items: number;
  concurrency: number;
  latencyMs: number;
  rounds: number;
}

/** What the target reports of itself: its counters and its own CPU time. */
type TargetSnapshot = Awaited<ReturnType<TargetProcess['stats']>>;

const r1 = (n: number): number => Math.round(n * 10) / 10;
const r2 = (n: number): number => Math.round(n * 100) / 100;
const fmt = (n: number | null, digits = 1): string => (n === null ? '—' : n.toFixed(digits));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A contender's sample per item, with what the target saw between `before` and `after`. */
export function toMeasurement(
  run: RunSettings,
  contender: string,
  round: number,
  sample: Sample,
  before: TargetSnapshot,
  after: TargetSnapshot,
): Measurement {
  const { items } = run;
  return {
    benchmark: 'peers',
    run: run.runId,
    contender,
    round,
    items,
    concurrency: run.concurrency,
    latencyMs: run.latencyMs,
    ok: sample.ok,
    failed: sample.failed,
    seconds: r2(sample.seconds),
    itemsPerSecond: r1(items / sample.seconds),
    serverCpuMsPerItem: sample.serverCpuMs === null ? null : r2(sample.serverCpuMs / items),
    workerCpuMsPerItem: r2(sample.workerCpuMs / items),
    totalCpuMsPerItem: r2(((sample.serverCpuMs ?? 0) + sample.workerCpuMs) / items),
    serverIdleCpuMsPerSecond:
      sample.serverIdleCpuMsPerSecond === null ? null : r1(sample.serverIdleCpuMsPerSecond),
    historyEvents: sample.historyEvents ?? null,
    historyEventsPerItem: sample.historyEvents === undefined ? null : r2(sample.historyEvents / items),
    workflowExecutions: sample.workflowExecutions ?? null,
    parentRuns: sample.parentRuns ?? null,
    targetRequests: after.stats.requests - before.stats.requests,
    targetEffects: after.stats.effects - before.stats.effects,
    targetCpuMsPerItem: r2((after.cpuMs - before.cpuMs) / items),
    workerRssMb: Math.round(process.memoryUsage().rss / 1e6),
    loadAverage1m: r2(os.loadavg()[0]!),
    ...(sample.cli
      ? {
          cli: {
            startupSeconds: r2(sample.cli.startupSeconds),
            startupCpuMsPerItem: r2(sample.cli.startupCpuMs / items),
            followSeconds: r2(sample.cli.followSeconds),
            followCpuMsPerItem: r2(sample.cli.followCpuMs / items),
            exitSeconds: r2(sample.cli.exitSeconds),
            exitCpuMsPerItem: r2(sample.cli.exitCpuMs / items),
          },
        }
      : {}),
    ...(sample.note ? { note: sample.note } : {}),
  };
}

interface ContenderSummary {
  itemsPerSecond: { min: number; median: number; max: number };
  vsLoop: number | null;
  vsBullmq: number | null;
  vsPerItem: number | null;
  cpuVsPerItem: number | null;
  /** Items/s over its own `<mode>@base` (median of per-round ratios); null without that contender. */
  vsBase: number | null;
  /** Total CPU ms per item over its own `<mode>@base`'s (medians): above 1 costs more than before. */
  cpuMsVsBase: number | null;
  /** A `+cli` contender: items/s over its engine-only mode's (median of per-round ratios). */
  vsEngineOnly: number | null;
  /** A `+cli` contender: total CPU ms per item over its engine-only mode's (medians). */
  cpuMsVsEngineOnly: number | null;
  historyEventsPerItem: number | null;
  serverCpuMsPerItem: number | null;
  workerCpuMsPerItem: number | null;
  totalCpuMsPerItem: number | null;
  failed: number;
}

/**
 * Emits the summary (`peers-summary`), prints the table, what was skipped or failed and the
 * versions, then checks issue 13's targets (`peers-targets`). Ratios are to `per-item@base` when it
 * ran, else to this checkout's per-item; besides, each mode's to its own `<mode>@base` when that ran.
 */
export function report(opts: {
  run: RunSettings;
  all: Measurement[];
  active: string[];
  skipped: Map<string, string>;
  versions: Record<string, string | undefined>;
  emit: (record: object) => void;
}): void {
  const { run, all, active, skipped, versions, emit } = opts;
  const { runId, items, concurrency, latencyMs, rounds } = run;
  /** Per-round ratio of a contender's items/s to another's, median over the rounds both ran. */
  const ratioTo = (contender: string, other: string): number | null => {
    const ratios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const a = all.find((m) => m.contender === contender && m.round === round);
      const b = all.find((m) => m.contender === other && m.round === round);
      if (a && b) ratios.push(a.itemsPerSecond / b.itemsPerSecond);
    }
    return ratios.length ? median(ratios) : null;
  };
  /** Median total CPU ms per item of a contender (null when it did not run or has no figure). */
  const cpuOf = (contender: string): number | null => {
    const xs = all.filter((m) => m.contender === contender).map((m) => m.totalCpuMsPerItem);
    return xs.length ? median(xs) : null;
  };
  // The base's CPU per item over the contender's: the speed-up to expect where the cores are the
  // limit. Unlike items/s it does not depend on what else the machine was doing during the run.
  const cpuRatioTo = (contender: string, other: string): number | null => {
    const a = cpuOf(contender);
    const b = cpuOf(other);
    return a && b ? b / a : null;
  };
  const baseFor = active.includes('per-item@base') ? 'per-item@base' : 'per-item';
  /** The same mode from the baseline checkout, when it ran (not for loop, BullMQ or a base itself). */
  const ownBase = (contender: string): string | null =>
    active.includes(contender + BASE_SUFFIX) ? contender + BASE_SUFFIX : null;
  /** The engine-only mode a `+cli` contender runs through the CLI, when it ran. */
  const engineOnly = (contender: string): string | null => {
    const mode = contender.replace(CLI_SUFFIX, '');
    return mode !== contender && active.includes(mode) ? mode : null;
  };
  const rows: string[][] = [];
  const summary: Record<string, ContenderSummary> = {};
  for (const contender of active) {
    const ms = all.filter((m) => m.contender === contender);
    if (!ms.length) continue;
    const ips = ms.map((m) => m.itemsPerSecond);
    const med = (f: (m: Measurement) => number | null): number | null => {
      const xs = ms.map(f).filter((x): x is number => x !== null);
      return xs.length ? median(xs) : null;
    };
    const own = ownBase(contender);
    const engine = engineOnly(contender);
    const s: ContenderSummary = {
      itemsPerSecond: { min: Math.min(...ips), median: median(ips), max: Math.max(...ips) },
      vsLoop: ratioTo(contender, 'loop'),
      vsBullmq: ratioTo(contender, 'bullmq'),
      vsPerItem: ratioTo(contender, baseFor),
      cpuVsPerItem: cpuRatioTo(contender, baseFor),
      vsBase: own ? ratioTo(contender, own) : null,
      cpuMsVsBase: own ? cpuRatioTo(own, contender) : null,
      vsEngineOnly: engine ? ratioTo(contender, engine) : null,
      cpuMsVsEngineOnly: engine ? cpuRatioTo(engine, contender) : null,
      historyEventsPerItem: med((m) => m.historyEventsPerItem),
      serverCpuMsPerItem: med((m) => m.serverCpuMsPerItem),
      workerCpuMsPerItem: med((m) => m.workerCpuMsPerItem),
      totalCpuMsPerItem: med((m) => m.totalCpuMsPerItem),
      failed: ms.reduce((n, m) => n + m.failed, 0),
    };
    summary[contender] = s;
    rows.push([
      contender,
      `${fmt(s.itemsPerSecond.min)} / ${fmt(s.itemsPerSecond.median)} / ${fmt(s.itemsPerSecond.max)}`,
      fmt(s.vsLoop, 3),
      fmt(s.vsBullmq, 2),
      fmt(s.vsPerItem, 2),
      fmt(s.cpuVsPerItem, 2),
      fmt(s.vsBase, 2),
      fmt(s.cpuMsVsBase, 2),
      fmt(s.vsEngineOnly, 2),
      fmt(s.cpuMsVsEngineOnly, 2),
      fmt(s.historyEventsPerItem, 2),
      fmt(s.serverCpuMsPerItem, 2),
      fmt(s.workerCpuMsPerItem, 2),
      fmt(s.totalCpuMsPerItem, 2),
    ]);
  }
  emit({ benchmark: 'peers-summary', run: runId, items, concurrency, latencyMs, rounds, versions, summary });

  const header = [
    'contender',
    'items/s min / median / max',
    '× loop',
    '× BullMQ',
    `× ${baseFor}`,
    `× ${baseFor} by CPU`,
    '× own @base',
    'CPU ms / item × own @base',
    '+cli: × engine only',
    '+cli: CPU ms / item × engine only',
    'history events / item',
    'server CPU ms / item',
    'worker CPU ms / item',
    'total CPU ms / item',
  ];
  const align = ['---', ...header.slice(1).map(() => '--:')];
  const table = [header, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  console.log(
    `\n${items} items, concurrency ${concurrency}, target latency ${latencyMs} ms, ${rounds} rounds ` +
      `(ratios: median of per-round ratios)\n\n${table}\n`,
  );
  for (const [m, why] of skipped) console.log(`not run: ${m} (${why})`);
  for (const m of all.filter((x) => x.failed > 0)) {
    console.log(
      `FAILED ITEMS: ${m.contender} round ${m.round}: ${m.failed} of ${m.items} (${m.note ?? '?'})`,
    );
  }
  console.log(JSON.stringify(versions));
  checkTargets(runId, latencyMs, baseFor, summary, emit);
}

/** Issue 13's targets, each against the summary of the contender it concerns (n/a when it did not run). */
function checkTargets(
  runId: string,
  latencyMs: number,
  baseFor: string,
  summary: Record<string, ContenderSummary>,
  emit: (record: object) => void,
): void {
  const checks: { target: string; value: number | null; limit: number; atLeast: boolean }[] = [];
  const get = (c: string): ContenderSummary | undefined => summary[c];
  const today =
    baseFor === 'per-item@base' ? 'today (per-item@base)' : 'per-item (this checkout: not "today")';
  const check = (target: string, value: number | null | undefined, limit: number, atLeast: boolean): void => {
    if (value !== undefined) checks.push({ target, value, limit, atLeast });
  };
  if (latencyMs === 0) {
    check(`per-item: items/s × ${today}`, get('per-item')?.vsPerItem, 2, true);
    check(`per-item: CPU ratio to ${today}`, get('per-item')?.cpuVsPerItem, 2, true);
    check('per-item: total CPU ms / item', get('per-item')?.totalCpuMsPerItem, 50, false);
    check(`per-item-local: items/s × ${today}`, get('per-item-local')?.vsPerItem, 2, true);
    check(`per-item-local: CPU ratio to ${today}`, get('per-item-local')?.cpuVsPerItem, 2, true);
    check('per-item-local: total CPU ms / item', get('per-item-local')?.totalCpuMsPerItem, 50, false);
    check(`page: items/s × ${today}`, get('page')?.vsPerItem, 8, true);
    check(`page: CPU ratio to ${today}`, get('page')?.cpuVsPerItem, 8, true);
    check('page: total CPU ms / item', get('page')?.totalCpuMsPerItem, 13, false);
    check('page: history events / item', get('page')?.historyEventsPerItem, 4, false);
    check(`page-local: items/s × ${today}`, get('page-local')?.vsPerItem, 15, true);
    check(`page-local: CPU ratio to ${today}`, get('page-local')?.cpuVsPerItem, 15, true);
    check('page-local: total CPU ms / item', get('page-local')?.totalCpuMsPerItem, 6, false);
    check('page-local: items/s × BullMQ', get('page-local')?.vsBullmq, 0.5, true);
  } else {
    check('page: items/s × loop (target latency)', get('page')?.vsLoop, 0.8, true);
  }
  if (!checks.length) return;
  console.log('issue 13 targets:');
  for (const c of checks) {
    if (c.value === null) {
      console.log(`  n/a    ${c.target} (not measured in this run)`);
      continue;
    }
    const met = c.atLeast ? c.value >= c.limit : c.value <= c.limit;
    const off = Math.abs((c.value - c.limit) / c.limit) * 100;
    const how = met ? `${fmt(off, 0)}% to spare` : `missed by ${fmt(off, 0)}%`;
    const limit = `${c.atLeast ? '≥' : '≤'} ${c.limit}`;
    console.log(`  ${met ? 'MET   ' : 'MISSED'} ${c.target}: ${fmt(c.value, 2)} (target ${limit}, ${how})`);
  }
  emit({ benchmark: 'peers-targets', run: runId, checks });
}

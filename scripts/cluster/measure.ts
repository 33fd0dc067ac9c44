// What a batch costs the native cluster: the Temporal server's and PostgreSQL's CPU (from /proc), the
// growth of Temporal's two databases, and the history events the batch's workflows recorded. Read
// before and after a batch by tests/cluster/cluster.test.ts and bench/cluster-throughput.ts.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { PG_USER, postgresBin } from './postgres';

const run = promisify(execFile);
const TICKS_PER_SECOND = 100; // USER_HZ of /proc/<pid>/stat times on every Linux we run on

interface Stat {
  ppid: number;
  /** utime + stime: the process's own CPU, every thread included. */
  ownTicks: number;
  /** cutime + cstime: the CPU of its children that exited and were waited for. */
  reapedTicks: number;
}

async function readStat(pid: number): Promise<Stat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  // The command name (field 2) may contain spaces: split after its closing parenthesis.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    ppid: Number(f[1]),
    ownTicks: Number(f[11]) + Number(f[12]),
    reapedTicks: Number(f[13]) + Number(f[14]),
  };
}

/** CPU seconds (user + system) a process has used, 0 once it is gone. */
export async function cpuSeconds(pid: number | undefined): Promise<number> {
  const s = pid ? await readStat(pid) : undefined;
  return s ? s.ownTicks / TICKS_PER_SECOND : 0;
}

/**
 * CPU seconds of PostgreSQL: the postmaster, its live backends and workers, and the ones that have
 * exited (the postmaster waits for them, so their CPU moves into its cutime and stays counted).
 */
export async function postgresCpuSeconds(clusterDir: string): Promise<number> {
  const pidFile = await readFile(path.join(clusterDir, 'pg', 'postmaster.pid'), 'utf8');
  const postmaster = Number(pidFile.split('\n')[0]);
  const root = await readStat(postmaster);
  if (!root) return 0;
  let ticks = root.ownTicks + root.reapedTicks;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = await readStat(Number(name));
    if (s?.ppid === postmaster) ticks += s.ownTicks;
  }
  return ticks / TICKS_PER_SECOND;
}

/** Total size in bytes of Temporal's two databases (history and visibility). */
export async function databaseBytes(postgresPort: number): Promise<number> {
  const { stdout } = await run(path.join(postgresBin(), 'psql'), [
    '-h',
    '127.0.0.1',
    '-p',
    String(postgresPort),
    '-U',
    PG_USER,
    '-d',
    'temporal',
    '-At',
    '-c',
    "select sum(pg_database_size(datname)) from pg_database where datname in ('temporal','temporal_visibility')",
  ]);
  return Number(stdout.trim());
}

/** What visibility holds about a batch's workflow runs once they are closed. */
export interface BatchHistory {
  /** The sum of the history lengths of every run carrying the BatchId (the parent's, its children's). */
  events: number;
  runs: number;
  /** From the first run's start to the last run's close: the batch's own time, no CLI start-up. */
  seconds: number;
}

/** Visibility is written after the fact: read until two reads agree. */
export async function batchHistory(client: Client, batchId: string): Promise<BatchHistory> {
  const read = async (): Promise<BatchHistory> => {
    let events = 0;
    let runs = 0;
    let first = Infinity;
    let last = 0;
    for await (const w of client.workflow.list({ query: `BatchId = "${batchId}"` })) {
      events += w.historyLength;
      runs++;
      first = Math.min(first, w.startTime.getTime());
      last = Math.max(last, w.closeTime?.getTime() ?? 0);
    }
    return { events, runs, seconds: (last - first) / 1000 };
  };
  let previous = await read();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const now = await read();
    if (now.events === previous.events && now.runs === previous.runs) return now;
    previous = now;
  }
  return previous;
}

/** The cluster's meters at one moment; `costBetween` turns two of them into per-item figures. */
export interface ClusterMeters {
  serverCpuSeconds: number;
  postgresCpuSeconds: number;
  databaseBytes: number;
  /** The 1-minute load average, to read the other figures against. */
  load1: number;
}

export async function readMeters(cluster: {
  dir: string;
  postgresPort: number;
  serverPid(): number | undefined;
}): Promise<ClusterMeters> {
  const loadavg = await readFile('/proc/loadavg', 'utf8');
  return {
    serverCpuSeconds: await cpuSeconds(cluster.serverPid()),
    postgresCpuSeconds: await postgresCpuSeconds(cluster.dir),
    databaseBytes: await databaseBytes(cluster.postgresPort),
    load1: Number(loadavg.split(' ')[0]),
  };
}

export interface BatchCost {
  items: number;
  seconds: number;
  itemsPerSecond: number;
  serverCpuMsPerItem: number;
  postgresCpuMsPerItem: number;
  databaseBytesBefore: number;
  databaseBytesAfter: number;
  databaseMbPer1000Items: number;
  historyEventsPerItem: number;
  /** 1-minute load average at the start and at the end of the batch. */
  load1: [number, number];
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * The cost of `items` items between two readings, the batch's time from visibility (the readings
 * also hold the CLI's start-up and the wait for visibility). `serverCpuSecondsLost` is the CPU of server
 * processes killed in between (read just before each kill: a killed process's CPU is gone).
 */
export function costBetween(
  before: ClusterMeters,
  after: ClusterMeters,
  items: number,
  history: BatchHistory,
  serverCpuSecondsLost = 0,
): BatchCost {
  const seconds = history.seconds;
  const serverCpu = after.serverCpuSeconds + serverCpuSecondsLost - before.serverCpuSeconds;
  return {
    items,
    seconds: round(seconds),
    itemsPerSecond: round(items / seconds),
    serverCpuMsPerItem: round((serverCpu * 1000) / items),
    postgresCpuMsPerItem: round(((after.postgresCpuSeconds - before.postgresCpuSeconds) * 1000) / items),
    databaseBytesBefore: before.databaseBytes,
    databaseBytesAfter: after.databaseBytes,
    databaseMbPer1000Items: round(((after.databaseBytes - before.databaseBytes) / 1e6 / items) * 1000),
    historyEventsPerItem: round(history.events / items, 2),
    load1: [before.load1, after.load1],
  };
}

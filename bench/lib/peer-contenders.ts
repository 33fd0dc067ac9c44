// The contenders of bench/peers.ts that run outside Temporal: a plain in-process loop (the physical
// limit) and BullMQ. Both send durabatch's own request per item (runHttp), so only the machinery
// around the request differs. Also what every contender shares: the HTTP spec and the Sample.
import { setTimeout as delay } from 'node:timers/promises';
import { Queue, Worker as BullWorker, type Job } from 'bullmq';
import { pino } from 'pino';
import { runHttp } from '../../activities/processors/http';
import type { ProcessorContext } from '../../activities/processors/context';
import type { HttpProcessorSpec } from '../../workflows/types';
import { processTreeCpuMs, selfCpuMs } from './proc-cpu';
import { startRedis } from './redis';
import type { TargetProcess } from './target';

/** What to stop if the run is interrupted (Ctrl-C, SIGTERM): servers, the target, temp dirs. */
export type Cleanups = Set<() => Promise<unknown>>;

/** One contender's turn: the target, the round, a scratch dir, and the limits every contender shares. */
export interface Turn {
  target: TargetProcess;
  round: number;
  dir: string;
  items: number;
  concurrency: number;
}

/** What one contender's turn measured, before it is divided per item. */
export interface Sample {
  ok: number;
  failed: number;
  seconds: number;
  serverCpuMs: number | null;
  workerCpuMs: number;
  serverIdleCpuMsPerSecond: number | null;
  historyEvents?: number;
  workflowExecutions?: number;
  parentRuns?: number;
  /** A `+cli` contender: its command's phases (./peer-cli.ts). */
  cli?: CliPhases;
  note?: string;
}

/**
 * The phases of one `durabatch run`, wall seconds and CPU ms of its process (its worker included):
 * `startup` from the spawn to the batch started (connect, staging, worker, start), `follow` to the
 * summary printed (the batch running, progress), `exit` to the process gone (worker shutdown).
 */
export interface CliPhases {
  startupSeconds: number;
  startupCpuMs: number;
  followSeconds: number;
  followCpuMs: number;
  exitSeconds: number;
  exitCpuMs: number;
}

export function httpSpec(url: string, concurrency: number): HttpProcessorSpec & { connections: number } {
  return {
    type: 'http',
    url: `${url}/api/bench`,
    method: 'POST',
    headers: {},
    connections: concurrency,
    timeoutMs: 30_000,
  };
}

/** The processors' logger, silenced: the contenders outside Temporal log nothing either. */
const silentLogger = pino({ level: 'silent' });
const noop = (): void => undefined;

/** The context runHttp gets for item i outside Temporal (the loop and BullMQ contenders). */
function itemContext(batchId: string, i: number, dir: string, attempt: number): ProcessorContext {
  const key = `item-${i}`;
  return {
    batchId,
    item: { index: i, key, line: i + 2, data: { id: key } },
    idempotencyKey: `${batchId}:${key}`,
    attempt,
    signal: new AbortController().signal,
    heartbeat: () => undefined,
    lastHeartbeatDetails: undefined,
    steps: {},
    outputDir: dir,
    stopGraceMs: 5_000,
    env: process.env,
    log: silentLogger,
  };
}

/** The physical limit: a plain loop with `concurrency` lanes, same request, up to 5 attempts. */
export async function runLoop({ target, round, dir, items, concurrency }: Turn): Promise<Sample> {
  const spec = httpSpec(target.url, concurrency);
  const batchId = `peers-loop-r${round}-${Date.now()}`;
  let next = 0;
  let ok = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (next < items) {
      const i = next++;
      for (let attempt = 1; ; attempt++) {
        try {
          await runHttp(spec, itemContext(batchId, i, dir, attempt));
          ok++;
          break;
        } catch (err) {
          if (attempt >= 5) {
            failed++;
            console.error(`loop: item ${i} failed: ${(err as Error).message}`);
            break;
          }
          await delay(1_000 * 2 ** (attempt - 1));
        }
      }
    }
  };
  const cpu0 = selfCpuMs();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (performance.now() - t0) / 1000;
  return {
    ok,
    failed,
    seconds,
    serverCpuMs: null,
    workerCpuMs: selfCpuMs() - cpu0,
    serverIdleCpuMsPerSecond: null,
  };
}

/**
 * BullMQ: one job per item (added in bulk), one Worker with `concurrency`, jobs kept as by default,
 * on a fresh redis-server (registered in `cleanups` while it runs; its version goes to `onRedisVersion`).
 */
export async function runBullmq(
  { target, round, dir, items, concurrency }: Turn,
  cleanups: Cleanups,
  onRedisVersion: (version: string) => void,
): Promise<Sample> {
  const redis = await startRedis();
  cleanups.add(redis.stop);
  onRedisVersion(redis.version);
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const batchId = `peers-bullmq-r${round}-${Date.now()}`;
  const spec = httpSpec(target.url, concurrency);
  const queue = new Queue('peers', { connection });
  let ok = 0;
  let failed = 0;
  let finish: () => void = noop;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new BullWorker(
    'peers',
    async (job: Job<{ i: number }>) => {
      await runHttp(spec, itemContext(batchId, job.data.i, dir, job.attemptsMade + 1));
    },
    { connection, concurrency },
  );
  worker.on('completed', () => {
    if (++ok + failed === items) finish();
  });
  worker.on('failed', (job, err) => {
    if (job && job.attemptsMade < (job.opts.attempts ?? 1)) return;
    console.error(`bullmq: job ${job?.id ?? '?'} failed: ${err.message}`);
    if (ok + ++failed === items) finish();
  });
  try {
    await worker.waitUntilReady();
    await queue.waitUntilReady();
    const idle = processTreeCpuMs(redis.pid);
    await delay(1_000);
    const serverIdle = processTreeCpuMs(redis.pid) - idle;
    const server0 = processTreeCpuMs(redis.pid);
    const cpu0 = selfCpuMs();
    const t0 = performance.now();
    for (let start = 0; start < items; start += 1_000) {
      const jobs = [];
      for (let i = start; i < Math.min(items, start + 1_000); i++) {
        jobs.push({
          name: 'item',
          data: { i },
          opts: { attempts: 5, backoff: { type: 'exponential', delay: 1_000 } },
        });
      }
      await queue.addBulk(jobs);
    }
    await finished;
    const seconds = (performance.now() - t0) / 1000;
    return {
      ok,
      failed,
      seconds,
      serverCpuMs: processTreeCpuMs(redis.pid) - server0,
      workerCpuMs: selfCpuMs() - cpu0,
      serverIdleCpuMsPerSecond: serverIdle,
    };
  } finally {
    await worker.close();
    await queue.close();
    await redis.stop();
    cleanups.delete(redis.stop);
  }
}

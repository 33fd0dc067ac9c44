// The module processor surviving a dead worker: a long item heartbeats its progress from a user module
// in a real `durabatch worker` process; that process is killed with SIGKILL mid-item, and a second
// worker process resumes the item from its last recorded heartbeat rather than from the start.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepResult } from '../../workflows/types';
import { createTestContext, type TestContext } from '../helpers/context';
import { readItems, waitFor, finalProgress } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { activityResults, decodePayload } from '../helpers/history';
import { batchLogLines, DEBUG, INFO } from '../helpers/log-lines';
import { spawnWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

interface LogLine {
  event: 'start' | 'step';
  key: string;
  attempt: number;
  pid: number;
  from?: number;
  step?: number;
}

const STEPS = 40;
const STEP_MS = 200;

/** Counts 1..steps, heartbeating `{ step }` after each and logging every executed step with its attempt. */
function fixtureSource(logFile: string): string {
  return `import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const LOG = ${JSON.stringify(logFile)};
const log = (line) => appendFileSync(LOG, JSON.stringify(line) + '\\n');

export default async function countSteps(item, ctx) {
  const total = Number(item.data.steps);
  const from = ctx.lastHeartbeat?.step ?? 0;
  log({ event: 'start', key: item.key, attempt: ctx.attempt, from, pid: process.pid });
  for (let step = from + 1; step <= total; step++) {
    await sleep(Number(item.data.stepMs), undefined, { signal: ctx.signal });
    log({ event: 'step', key: item.key, attempt: ctx.attempt, step, pid: process.pid });
    ctx.heartbeat({ step });
  }
  return { done: total, attempt: ctx.attempt, resumedFrom: from };
}
`;
}

describe('module processor resuming from its heartbeat after a worker is killed', () => {
  let ctx: TestContext;
  const spawned: WorkerProcess[] = [];

  beforeAll(async () => {
    // No in-process worker: this context's task queue is served only by worker processes.
    ctx = await createTestContext('proc-module');
  });
  afterAll(async () => {
    await Promise.all(spawned.map((w) => w.kill()));
    await ctx?.close();
  });

  it('attempt 2 starts right after the last recorded heartbeat, on the second worker, and the item succeeds', async () => {
    const logFile = path.join(ctx.dir, 'steps.log');
    await writeFile(logFile, '');
    const fixture = path.join(ctx.dir, 'count-steps.mjs');
    await writeFile(fixture, fixtureSource(logFile));
    const readLog = async (): Promise<LogLine[]> =>
      (await readFile(logFile, 'utf8'))
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as LogLine);

    const batchId = `module-resume-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'M1', steps: STEPS, stepMs: STEP_MS }]);
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      processor: 'module',
      module: { path: fixture, timeoutMs: 120_000 },
      heartbeatTimeoutMs: 2_000,
      maxAttempts: 3,
    });

    const first = spawnWorkerProcess({
      taskQueue: ctx.taskQueue,
      logFile: path.join(ctx.dir, 'worker-1.log'),
    });
    spawned.push(first);
    const started = await ctx.batches.start(csv, config);
    const item = ctx.client.workflow.getHandle(`${batchId}/M1`);

    // 15 steps (3 s): longer than the heartbeat throttle interval (1.6 s here), so more than the
    // first heartbeat has reached the server.
    await waitFor(
      'attempt 1 to run a few steps',
      async () => (await readLog()).filter((l) => l.event === 'step').length >= 15,
      60_000,
      50,
    );
    await first.kill();
    const killedAt = Date.now();
    expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
    const attempt1 = (await readLog()).filter((l) => l.attempt === 1);
    expect(attempt1.every((l) => l.pid === first.pid)).toBe(true);
    const ranTo = Math.max(...attempt1.map((l) => l.step ?? 0));
    expect(attempt1.filter((l) => l.event === 'step').map((l) => l.step)).toEqual(range(1, ranTo));
    expect(ranTo).toBeLessThan(STEPS);

    // The server notices the dead worker by the missed heartbeats (2 s), not at the 125 s timeout,
    // and schedules attempt 2 carrying the last heartbeat it recorded.
    const pending = await waitFor(
      'attempt 2 scheduled after the heartbeat timeout',
      async () => {
        const p = (await item.describe()).raw.pendingActivities?.[0];
        return p && (p.attempt ?? 0) >= 2 ? p : undefined;
      },
      15_000,
      100,
    );
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(pending.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(
      temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_HEARTBEAT,
    );
    const recorded = decodePayload<{ step: number }>(pending.heartbeatDetails?.payloads?.[0]).step;
    // Not the first heartbeat only; and it lags the work by at most the throttle interval (< 2 s,
    // ~10 steps) plus a little.
    expect(recorded).toBeGreaterThan(1);
    expect(recorded).toBeLessThanOrEqual(ranTo);
    expect(ranTo - recorded).toBeLessThanOrEqual(13);
    expect((await readLog()).filter((l) => l.attempt > 1)).toEqual([]); // nothing ran it meanwhile

    const second = spawnWorkerProcess({
      taskQueue: ctx.taskQueue,
      logFile: path.join(ctx.dir, 'worker-2.log'),
    });
    spawned.push(second);
    const result = await finalProgress(started.handle);
    expect(result).toMatchObject({ status: 'completed', total: 1, succeeded: 1, failed: 0 });

    const attempt2 = (await readLog()).filter((l) => l.attempt === 2);
    expect(attempt2[0]).toEqual({ event: 'start', key: 'M1', attempt: 2, from: recorded, pid: second.pid });
    // Resumed at the step after the last heartbeated one, not from 0, and ran to the end once.
    expect(attempt2.filter((l) => l.event === 'step').map((l) => l.step)).toEqual(range(recorded + 1, STEPS));
    expect(attempt2.every((l) => l.pid === second.pid)).toBe(true);
    expect((await readLog()).filter((l) => l.attempt > 2)).toEqual([]);

    const [outcome] = await readItems(started.outputDir);
    expect(outcome).toMatchObject({ key: 'M1', status: 'succeeded', attempts: 2 });
    const [step] = await activityResults<StepResult>(ctx.client, `${batchId}/M1`);
    expect(step).toMatchObject({ attempt: 2, body: { done: STEPS, attempt: 2, resumedFrom: recorded } });
  });
});

describe('a module outside the project, on a separate worker, for a batch started with start', () => {
  let ctx: TestContext;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    // No in-process worker: only the `durabatch worker` process below serves this task queue.
    ctx = await createTestContext('proc-module-outside');
  });
  afterAll(async () => {
    await worker?.kill();
    await ctx?.close();
  });

  it("imports from 'durabatch', logs through ctx.log, and the batch's log has its start and end lines", async () => {
    // A temp dir with no package.json and no node_modules above it: nothing there installs durabatch.
    const own = await mkdtemp(path.join(os.tmpdir(), 'durabatch-outside-'));
    const module = path.join(own, 'double.ts');
    await writeFile(
      module,
      `import { NonRetryableError, type ProcessFunction } from 'durabatch';

const double: ProcessFunction<{ id: string; n: string }> = async (item, ctx) => {
  if (item.data.n === '') throw new NonRetryableError('n is empty', 'EmptyN');
  ctx.log.info({ n: item.data.n }, 'module saw the item');
  return { doubled: Number(item.data.n) * 2 };
};
export default double;
`,
    );
    const batchId = `module-outside-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [
      { id: 'A1', n: '1' },
      { id: 'A2', n: '2' },
      { id: 'A3', n: '' },
    ]);
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      processor: 'module',
      module: { path: module, timeoutMs: 30_000 },
      logLevels: { processor: 'debug' },
    });
    worker = spawnWorkerProcess({ taskQueue: ctx.taskQueue, logFile: path.join(ctx.dir, 'worker.log') });
    const started = await ctx.batches.start(csv, config);
    const result = await finalProgress(started.handle);
    expect(result).toMatchObject({
      status: 'partial_failure',
      total: 3,
      succeeded: 2,
      failed: 1,
      skipped: 0,
      cancelled: 0,
      errorsByType: { EmptyN: 1 },
    });
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    expect(items.get('A2')).toMatchObject({ status: 'succeeded', output: '{"doubled":4}' });
    expect(items.get('A3')).toMatchObject({ status: 'failed', attempts: 1, errorMessage: 'n is empty' });

    // The batch's own log exists although no `run` wrote it: the worker process and this client did.
    const lines = await batchLogLines(started.outputDir);
    expect(lines.every((l) => l.batchId === batchId)).toBe(true);
    const events = lines.filter((l) => l.event);
    expect(events.map((l) => l.event)).toEqual(['batch.start', 'batch.end']);
    expect(events[0]).toMatchObject({
      level: INFO,
      pid: process.pid, // the client that started the batch
      total: 3,
      processor: `module ${module}`,
      taskQueue: ctx.taskQueue,
      msg: `batch started: 3 items → module ${module}`,
    });
    expect(events[1]).toMatchObject({
      level: INFO,
      pid: worker.pid, // the worker that wrote the report
      status: 'partial_failure',
      total: 3,
      succeeded: 2,
      failed: 1,
      skipped: 0,
      cancelled: 0,
      errorsByType: { EmptyN: 1 },
      msg: 'batch ended partial_failure: 3 items, 2 succeeded, 1 failed, 0 skipped, 0 cancelled',
    });
    expect(lines.at(-1)).toEqual(events[1]); // nothing about the batch after its end

    // ctx.log lines of the user's module, with the item's bindings, written by the worker process.
    const saw = lines.filter((l) => l.msg === 'module saw the item');
    expect(saw.map((l) => [l.itemKey, l.n, l.op, l.level, l.pid]).sort()).toEqual([
      ['A1', '1', 'processor', INFO, worker.pid],
      ['A2', '2', 'processor', INFO, worker.pid],
    ]);
    // At the batch's processor level (debug), one line per call: returned or threw.
    const calls = lines.filter((l) => l.level === DEBUG && l.module === module);
    expect(calls.map((l) => [l.itemKey, l.msg.replace(/\d+ ms$/, 'N ms')]).sort()).toEqual([
      ['A1', `module ${module} returned in N ms`],
      ['A2', `module ${module} returned in N ms`],
      ['A3', `module ${module} failed after N ms`],
    ]);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

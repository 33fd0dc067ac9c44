// Upgrading a worker fleet while batches run: batches started on a worker running an earlier
// release's workflows (tests/bundles/<rev>.js.gz, recorded by scripts/record-bundle.ts) lose that
// worker mid-batch, with items done and items in flight, and a worker on today's code (same task
// queue) must finish them: it replays the old worker's history, then carries on. One batch per item,
// one in pages, and one that continues-as-new on both sides of the switch. Every item must succeed
// exactly once. If today's code cannot continue the old batches, their workflow tasks fail (a
// nondeterminism error) and the batches never end: the test says so, with what they wait on.
// To add a release: `npx tsx scripts/record-bundle.ts --engine <rev>`; each bundle is tested.
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetApi } from '../../examples/target-api/server';
import type { EngineOptions } from '../../src/client/batch-client';
import type { ConfigInput } from '../../src/config/schema';
import type { BatchProgress } from '../../workflows/types';
import { createTestContext, type TestContext } from '../helpers/context';
import {
  allSucceeded,
  batchesQuery,
  controlRows,
  finishedOf,
  listIds,
  quietTarget,
  receivedFor,
  waitFor,
} from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { controlUrl } from '../helpers/harness';
import { replayWorkflows } from '../helpers/replay';
import { stallReport } from '../helpers/stall-report';

const BUNDLES = path.resolve('tests/bundles');
const releases = readdirSync(BUNDLES)
  .filter((f) => f.endsWith('.js.gz'))
  .map((f) => f.replace(/\.js\.gz$/, ''));

const ITEMS = 24;
/** Items that finish at once on the old worker; the rest take long enough to be in flight at the switch. */
const FAST = 4;
const SLOW_MS = 800;
const OLD = 'old-release-worker';
const NEW = 'current-worker';

const BATCHES: { name: string; settings: ConfigInput; engine: EngineOptions }[] = [
  { name: 'per-item', settings: {}, engine: {} },
  { name: 'page', settings: { itemsPerChild: 4 }, engine: {} },
  // Continues-as-new every few items: runs by the old code carry state the new code must take up.
  { name: 'continue-as-new', settings: {}, engine: { continueAsNewAfterEvents: 30, pageSize: 2 } },
];

/** Which worker completed each workflow task of a run, in history order. */
async function taskWorkers(client: Client, workflowId: string, runId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return (history.events ?? []).flatMap((e) =>
    e.workflowTaskCompletedEventAttributes ? [e.workflowTaskCompletedEventAttributes.identity ?? ''] : [],
  );
}

/** The runs of a batch's parent, oldest first. */
async function parentRuns(client: Client, batchId: string): Promise<string[]> {
  const runs: { runId: string; start: number }[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = "${batchId}"` })) {
    runs.push({ runId: wf.runId, start: wf.startTime.getTime() });
  }
  return runs.sort((a, b) => a.start - b.start).map((r) => r.runId);
}

const Cause = temporal.api.enums.v1.WorkflowTaskFailedCause;
/**
 * Workflow tasks that failed by what the workflow code did (the server also rejects a completion now
 * and then, e.g. UNHANDLED_COMMAND when a message arrives as a workflow ends: the task is retried).
 */
const CODE_FAILURES = new Set([
  Cause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
  Cause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
]);

/** Workflow tasks the workflow code failed in any history of the batches (a nondeterminism error, say). */
async function failedTasks(client: Client, batchIds: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const { workflowId, history } of client.workflow
    .list({ query: batchesQuery(batchIds) })
    .intoHistories()) {
    for (const e of (history as temporal.api.history.v1.IHistory).events ?? []) {
      const failed = e.workflowTaskFailedEventAttributes;
      if (failed && CODE_FAILURES.has(failed.cause ?? Cause.WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED))
        out.push(`${workflowId}: ${failed.failure?.message ?? String(failed.cause)}`);
    }
  }
  return out;
}

/**
 * Throws as soon as a workflow task of the batches fails (today's code cannot replay what the old
 * code recorded: it would retry forever), or after 90 s, with what the batches wait on. Stops
 * (rejecting, unseen) once `ended` aborts.
 */
async function cannotContinue(client: Client, batchIds: string[], ended: AbortSignal): Promise<never> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    await sleep(2_000, undefined, { signal: ended });
    const failed = await failedTasks(client, batchIds);
    if (failed.length > 0 || Date.now() > deadline) {
      const waits = await Promise.all(batchIds.map((id) => stallReport(client, id)));
      throw new Error(
        [
          failed.length > 0
            ? 'today’s worker cannot continue the batches the old code started'
            : 'the batches did not end on today’s worker within 90 s',
          ...failed.map((f) => `workflow task failed: ${f}`),
          ...waits,
        ].join('\n'),
      );
    }
  }
}

describe.each(releases)('a worker running release %s is replaced mid-batch by today’s', (release) => {
  let ctx: TestContext;
  let target: TargetApi;
  let oldBundle: string;
  beforeAll(async () => {
    ctx = await createTestContext(`upgrade-${release}`);
    target = await quietTarget();
    oldBundle = path.join(ctx.dir, `workflows-${release}.js`);
    await writeFile(oldBundle, gunzipSync(readFileSync(path.join(BUNDLES, `${release}.js.gz`))));
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('finishes batches the old code started, every item exactly once', async () => {
    const client = ctx.client;
    const oldWorker = await ctx.startWorker({ workflowBundlePath: oldBundle, identity: OLD });
    const rows = controlRows(ITEMS, (i) => ({ delayMs: i < FAST ? 0 : SLOW_MS }));
    const stamp = Date.now().toString(36);
    const batchIds = BATCHES.map((b) => `upgrade-${release}-${b.name}-${stamp}`);
    await Promise.all(
      BATCHES.map(async (b, i) => {
        const batchId = batchIds[i]!;
        const csv = await writeCsv(ctx.dir, `${batchId}.csv`, rows);
        const config = ctx.config({
          batchId,
          idColumn: 'id',
          http: { url: controlUrl(target) },
          concurrency: 4,
          // An attempt the stopped worker leaves behind is retried within seconds.
          heartbeatTimeoutMs: 3_000,
          ...b.settings,
        });
        await ctx.batches.start(csv, config, b.engine);
      }),
    );
    const canId = batchIds[2]!;

    // The switch: every batch has items done and items in flight, and the continue-as-new one has
    // continued at least once, all on the old code. Done: their effect took place half a second
    // before, so their outcome has reached the old code (sending them again would be a re-run).
    const atSwitch = await waitFor(
      'every batch with items done and in flight on the old worker',
      async () => {
        const settled = Date.now() - 500;
        const doneBefore = batchIds.map((id) =>
          target
            .received()
            .filter((r) => r.idempotencyKey.startsWith(`${id}:`) && r.effects === 1)
            .filter((r) => Date.parse(r.lastAt) <= settled)
            .map((r) => r.idempotencyKey.slice(id.length + 1)),
        );
        if (doneBefore.some((keys) => keys.length < FAST)) return undefined;
        const progress = await Promise.all(batchIds.map((id) => ctx.batches.progress(id)));
        if (!progress.every((p) => finishedOf(p) < ITEMS && p.running > 0)) return undefined;
        const canRuns = (await parentRuns(client, canId)).length;
        return canRuns >= 2 ? { doneBefore, canRuns } : undefined;
      },
      60_000,
    );
    const { doneBefore } = atSwitch;
    await oldWorker.shutdown();
    await ctx.startWorker({ identity: NEW });

    const results = Promise.all(batchIds.map((id) => client.workflow.getHandle(id).result()));
    void results.catch(() => undefined); // still pending if the watch below gives up first
    const ended = new AbortController();
    const finals = (await Promise.race([results, cannotContinue(client, batchIds, ended.signal)]).finally(
      () => ended.abort(),
    )) as BatchProgress[];

    for (const [i, final] of finals.entries()) {
      expect(final, batchIds[i]).toMatchObject(allSucceeded(ITEMS));
      // Every item took effect exactly once; the ones done before the switch were not sent again.
      const received = receivedFor(target, batchIds[i]!);
      expect([...received.keys()].sort()).toEqual(rows.map((r) => r.id));
      expect([...received.values()].every((r) => r.effects === 1)).toBe(true);
      expect(doneBefore[i]!.map((key) => [key, received.get(key)?.attempts])).toEqual(
        doneBefore[i]!.map((key) => [key, 1]),
      );
      expect(doneBefore[i]!.length).toBeGreaterThanOrEqual(FAST);
      expect(doneBefore[i]!.length).toBeLessThan(ITEMS);
    }
    // The old code really ran each batch first and today's finished it.
    for (const batchId of batchIds) {
      const runs = await parentRuns(client, batchId);
      const first = await taskWorkers(client, batchId, runs[0]!);
      const last = await taskWorkers(client, batchId, runs.at(-1)!);
      expect(first[0], batchId).toBe(OLD);
      expect(last.at(-1), batchId).toBe(NEW);
    }
    // Runs continued-as-new by the old code, then by today's from state the old code carried.
    const canRuns = await parentRuns(client, canId);
    expect(canRuns.length).toBeGreaterThan(atSwitch.canRuns);
    expect(new Set(await taskWorkers(client, canId, canRuns[0]!))).toEqual(new Set([OLD]));
    expect(new Set(await taskWorkers(client, canId, canRuns.at(-1)!))).toEqual(new Set([NEW]));
    // No workflow task failed on either side, and the whole mixed histories replay on today's code.
    expect(await failedTasks(client, batchIds)).toEqual([]);
    const listed = (await listIds(client, batchesQuery(batchIds))).length;
    expect(await replayWorkflows(client, batchesQuery(batchIds))).toBe(listed);
  });
});

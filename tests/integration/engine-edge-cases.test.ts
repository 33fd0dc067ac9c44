// The parent's edge cases that are slow or racy to reach end to end: a pause during a budget stop,
// and a cancel while the batch continues-as-new. The real workflows run on the shared dev server
// through a TestWorkflowEnvironment; the activities are held in memory
// (tests/helpers/memory-activities.ts), so the test decides when each item finishes and can hold
// the batch in the middle of its continue-as-new.
import { setTimeout as sleep } from 'node:timers/promises';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BatchInput, batchWorkflow } from '../../workflows/batch';
import { pauseSignal, resumeSignal, setLimitsUpdate } from '../../workflows/messages';
import { batchIdKey } from '../../workflows/search-attributes';
import type { Item } from '../../workflows/types';
import { batchEnd, batchesQuery, key, liveProgress, tally, waitFor } from '../helpers/engine';
import { countsOf } from '../helpers/engine-state';
import { MemoryActivities } from '../helpers/memory-activities';
import { replayWorkflows } from '../helpers/replay';

let env: TestWorkflowEnvironment;
const batchIds: string[] = [];
/** Parents and children the tests above started, for the replay check. */
let workflowsStarted = 0;

beforeAll(async () => {
  // The SDK's worker lifecycle lines are not for the test output.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await TestWorkflowEnvironment.createFromExistingServer({
    address: inject('temporalAddress'),
    namespace: 'default',
  });
});
afterAll(() => env?.teardown());

const items = (n: number): Item[] =>
  Array.from({ length: n }, (_, i) => ({ index: i, key: key(i), line: i + 2, data: { id: key(i) } }));
const keys = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => key(from + i));

/** Runs `fn` with a worker of its own task queue whose activities are `mem`'s. */
async function withWorker(mem: MemoryActivities, fn: (taskQueue: string) => Promise<void>): Promise<void> {
  const taskQueue = `edge-cases-${process.pid}-${Date.now().toString(36)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities: mem.activities(),
    // Waiting activities learn of a cancellation with their next heartbeat sent.
    defaultHeartbeatThrottleInterval: '100 milliseconds',
    maxHeartbeatThrottleInterval: '100 milliseconds',
  });
  await worker.runUntil(async () => {
    try {
      await fn(taskQueue);
    } finally {
      mem.releaseAll();
    }
  });
}

/** Starts a batch of `mem`'s items straight on the workflow (no staging: the source is in memory). */
async function startBatch(
  taskQueue: string,
  name: string,
  mem: MemoryActivities,
  input: Partial<BatchInput>,
) {
  const batchId = `${name}-${Date.now().toString(36)}`;
  batchIds.push(batchId);
  const args: BatchInput = {
    batchId,
    source: { dir: '(memory)', fingerprint: '', originalPath: '(memory)', total: mem.items.length },
    steps: [{ name: 'memory', processor: { type: 'module', module: '(memory)', timeoutMs: 60_000 } }],
    limits: { concurrency: 1 },
    retry: { maxAttempts: 1, initialIntervalMs: 100, maxIntervalMs: 1_000, backoffCoefficient: 2 },
    failurePolicy: { failFast: false },
    outputDir: `(memory)/${batchId}`,
    ...input,
  };
  const handle = await env.client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
    workflowId: batchId,
    taskQueue,
    args: [args],
    typedSearchAttributes: [{ key: batchIdKey, value: batchId }],
  });
  return { batchId, handle };
}

describe('engine edge cases, activities in memory', () => {
  it.each([
    { mode: 'one child per item', settings: {}, children: 10 },
    { mode: 'page mode', settings: { itemsPerChild: 5 }, children: 2 },
  ])(
    '$mode: a pause during a budget stop holds; resume stops at the budget again until it is raised',
    async ({ settings, children }) => {
      const mem = new MemoryActivities(items(10), { holdItems: false });
      await withWorker(mem, async (taskQueue) => {
        // One item at a time: 3 items cost 3, the 4th would make 4.
        const { batchId, handle } = await startBatch(taskQueue, 'budget-pause', mem, {
          limits: { concurrency: 1, budget: 3 },
          cost: { perItem: 1 },
          ...settings,
        });
        // Spent and in flight add up to 3 (a page may stop while its last item's cost is in flight).
        const budgetStop = new RegExp(
          '^budget 3 reached: spent (\\d), in flight (\\d), next item K0004 would cost 1; ' +
            `raise it with \`durabatch set ${batchId} --budget N\` and resume$`,
        );
        /** The progress once stopped at the budget with nothing left running. */
        const atBudgetStop = async () => {
          const p = await liveProgress(handle);
          const m = budgetStop.exec(p.statusReason ?? '');
          return m !== null && Number(m[1]) + Number(m[2]) === 3 && p.running === 0 ? p : undefined;
        };
        const reason = async () => (await liveProgress(handle)).statusReason;
        const stopped = await waitFor('the budget stop', atBudgetStop);
        expect(stopped.status).toBe('paused');
        expect(countsOf(stopped)).toEqual({
          succeeded: 3,
          failed: 0,
          skipped: 0,
          cancelled: 0,
          running: 0,
          pending: 7,
        });

        await handle.signal(pauseSignal, { reason: 'checking the invoices' });
        await waitFor('the operator pause', async () => (await reason()) === 'checking the invoices');

        // Resuming without more budget stops at the same item again, starting nothing.
        await handle.signal(resumeSignal);
        await waitFor('the budget stop again', atBudgetStop);
        expect(mem.started).toEqual(keys(0, 3));

        // A raised budget does not resume a paused batch: the operator does.
        expect(await handle.executeUpdate(setLimitsUpdate, { args: [{ budget: 100 }] })).toEqual({
          concurrency: 1,
          budget: 100,
        });
        const raised = await liveProgress(handle);
        expect(raised).toMatchObject({ status: 'paused', budget: 100, running: 0, pending: 7 });
        expect(mem.started).toEqual(keys(0, 3));

        await handle.signal(resumeSignal);
        const end = await batchEnd(handle);
        expect(end.kind).toBe('returned');
        if (end.kind !== 'returned') return;
        expect(end.progress).toMatchObject({ status: 'completed', cost: 10, budget: 100, runNumber: 1 });
        expect(countsOf(end.progress)).toEqual({
          succeeded: 10,
          failed: 0,
          skipped: 0,
          cancelled: 0,
          running: 0,
          pending: 0,
        });
        expect(mem.started).toEqual(keys(0, 10));
        workflowsStarted += 1 + children;
        expect(tally([...mem.outcomesByKey().values()])).toEqual({ succeeded: 10 });
        expect([...mem.audit.values()].map((e) => `${e.action} by ${e.by ?? e.sender?.kind}`)).toEqual([
          'pause by budget',
          'pause by signal',
          'resume by signal',
          'pause by budget',
          'set by update',
          'resume by signal',
        ]);
      });
    },
  );

  // `lateWrite`: the held write does not see the cancel (a slow write without heartbeats) and
  // writes its shorter page when released; the batch must wait for it before the ending rewrites it.
  it.each([{ lateWrite: false }, { lateWrite: true }])(
    'a cancel while the batch continues-as-new ends it cancelled in that run, each item once (%o)',
    async ({ lateWrite }) => {
      const total = 20;
      const mem = new MemoryActivities(items(total), { holdItems: true });
      // Results are written only when forced (page size above the total): the first write is the
      // flush before continue-as-new, and it waits there.
      mem.holdNextResultsWrite({ ignoreCancel: lateWrite });
      await withWorker(mem, async (taskQueue) => {
        const { batchId, handle } = await startBatch(taskQueue, `cancel-can-${lateWrite}`, mem, {
          limits: { concurrency: 3 },
          continueAsNewAfterEvents: 40,
          resultsPageSize: 1_000,
        });
        // Items finish one at a time, each recorded by the parent. After each outcome the parent either
        // refills its window (3 items wait again) or, its history full, starts to continue-as-new
        // instead: then 2 items are in flight and its results write waits.
        const released: string[] = [];
        for (;;) {
          const next = await waitFor('the window refilled, or the flush before continue-as-new', () =>
            mem.resultsWriteWaiting ? 'flush' : mem.waiting.length === 3 ? mem.waiting[0] : undefined,
          );
          if (next === 'flush') break;
          mem.release(next);
          released.push(next);
          await waitFor(
            `the outcome of ${next}`,
            async () => (await liveProgress(handle)).succeeded === released.length,
          );
        }
        const running = mem.waiting;
        expect(running).toHaveLength(2);
        expect(await liveProgress(handle)).toMatchObject({
          status: 'running',
          runNumber: 1,
          succeeded: released.length,
          running: 2,
        });
        expect(released.length + running.length).toBeLessThan(total);

        await handle.cancel();
        if (lateWrite) {
          // The running write is awaited: nothing ends, nothing is rewritten, until it is done.
          await sleep(1_500);
          expect((await handle.describe()).status.name).toBe('RUNNING');
          expect(mem.resultsWriteWaiting).toBe(true);
          expect(mem.resultPages.size).toBe(0);
          mem.releaseWrite();
        }
        expect(await batchEnd(handle)).toEqual({ kind: 'cancelled' });

        // It ended in the run that was continuing-as-new: no next run started.
        const desc = await handle.describe();
        expect(desc.status.name).toBe('CANCELLED');
        expect(desc.runId).toBe(handle.firstExecutionRunId);
        if (!lateWrite)
          await waitFor('the held results write to see its cancellation', () => mem.cancelledWrites === 1);

        const started = released.length + running.length;
        // Items start in order, their steps in whichever order their children run.
        expect([...mem.started].sort()).toEqual(keys(0, started));
        workflowsStarted += 1 + started;
        expect(mem.succeeded).toEqual(released);
        expect([...mem.cancelled].sort()).toEqual([...running].sort());
        // The late write's page stays; the ending's outcomes follow it on the next page.
        expect(mem.report).toMatchObject({ resultsPages: lateWrite ? 2 : 1, notStartedFrom: started });
        expect(countsOf(mem.report!.progress)).toEqual({
          succeeded: released.length,
          failed: 0,
          skipped: 0,
          cancelled: total - released.length,
          running: 0,
          pending: 0,
        });
        expect(mem.report!.progress).toMatchObject({ status: 'cancelled', runNumber: 1 });

        // Results hold the items that started, each once; the report lists the rest (notStartedFrom).
        const outcomes = mem.outcomesByKey();
        expect([...outcomes.keys()].sort()).toEqual(keys(0, started));
        expect(tally([...outcomes.values()])).toEqual({
          succeeded: released.length,
          'cancelled/Cancelled': running.length,
        });

        // Every child started is closed, as its outcome says.
        const statuses = await Promise.all(
          keys(0, started).map(async (k) => [
            k,
            (await env.client.workflow.getHandle(`${batchId}/${k}`).describe()).status.name,
          ]),
        );
        expect(Object.fromEntries(statuses)).toEqual(
          Object.fromEntries(
            keys(0, started).map((k) => [k, released.includes(k) ? 'COMPLETED' : 'CANCELLED']),
          ),
        );
        expect([...mem.audit.values()].map((e) => `${e.action} by ${e.sender?.kind}`)).toEqual([
          'cancel by cancel',
        ]);
      });
    },
  );

  it('replays every history of the batches above without nondeterminism', async () => {
    const query = batchesQuery(batchIds);
    await waitFor(
      'visibility to list every workflow',
      async () => (await env.client.workflow.count(query)).count === workflowsStarted,
    );
    expect(await replayWorkflows(env.client, query)).toBe(workflowsStarted);
  });
});

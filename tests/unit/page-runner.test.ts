// The runner's own rules, with a page held in memory (the same answers and reports as the page
// workflow's, workflows/page-runner.ts) and attempts that fail as a target would: the batch's retry
// policy (attempts, backoff, Retry-After, non-retryable types), slots, pause, cancels, and a step the
// workers cannot run. The runner against a real page and server: tests/integration/runner-mode.test.ts.
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { runPageItems, type RunnerPage, type StepAttemptContext } from '../../activities/runner/page-runner';
import type { ProcessItemInput } from '../../activities';
import { RunnerLink } from '../../workflows/page-runner';
import type { PageControl } from '../../workflows/messages';
import type { RunnerReport, RunPageItemsInput } from '../../workflows/runner-protocol';
import type { Item, ItemOutcome, ItemRetryPolicy, StepResult } from '../../workflows/types';

const items = (n: number): Item[] =>
  Array.from({ length: n }, (_, i) => ({ index: i, line: i + 2, key: `K${i + 1}`, data: { n: i } }));

/** The page as the runner sees it: the page's RunnerLink, its control, and the outcomes it recorded. */
class MemoryPage implements RunnerPage {
  readonly link = new RunnerLink();
  readonly outcomes = new Map<string, ItemOutcome>();
  readonly reports: RunnerReport[] = [];
  control: PageControl = { slots: 2, paused: false };
  constructor(private readonly all: Item[]) {
    this.link.active = true;
  }
  view(todo: boolean) {
    const left = this.all.filter((i) => !this.outcomes.has(i.key)).map((i) => i.index);
    return Promise.resolve(this.link.view(this.control, 0, todo ? left : undefined));
  }
  report(r: RunnerReport) {
    this.reports.push(r);
    for (const o of r.outcomes) if (!this.outcomes.has(o.key)) this.outcomes.set(o.key, o);
    this.link.reported(r);
    return Promise.resolve();
  }
  setControl(c: PageControl) {
    this.link.controlChanged(this.control, c);
    this.control = c;
  }
}

const retry: ItemRetryPolicy = {
  maxAttempts: 4,
  initialIntervalMs: 20,
  maxIntervalMs: 100,
  backoffCoefficient: 2,
  nonRetryableErrorTypes: ['NotWorthIt'],
};

function runnerInput(n: number, policy = retry): RunPageItemsInput {
  return {
    spec: {
      batchId: 'b1',
      steps: [
        { name: 'call', processor: { type: 'http', url: 'http://x', method: 'POST', timeoutMs: 5_000 } },
      ],
      retry: policy,
      outputDir: '/tmp/none',
    } as RunPageItemsInput['spec'],
    source: {} as RunPageItemsInput['source'],
    first: 0,
    count: n,
    pageWorkflowId: 'b1/page-0',
  };
}

/** Runs the runner with `attempt` as every step attempt; resolves with the page and the runner's result. */
async function run(
  n: number,
  attempt: (input: ProcessItemInput, a: StepAttemptContext) => Promise<StepResult>,
  opts: { page?: MemoryPage; policy?: ItemRetryPolicy; cancelled?: AbortSignal; heartbeats?: unknown[] } = {},
) {
  const all = items(n);
  const page = opts.page ?? new MemoryPage(all);
  const result = await runPageItems(runnerInput(n, opts.policy), {
    attempt,
    checkStorage: () => Promise.resolve(),
    readItems: (offset, limit) => Promise.resolve(all.slice(offset, offset + limit)),
    page,
    heartbeat: (d) => opts.heartbeats?.push(d),
    lastHeartbeatDetails: undefined,
    cancelled: opts.cancelled ?? new AbortController().signal,
    cancelRequested: () => true,
    log: pino({ level: 'silent' }),
  });
  return { page, result };
}

const ok = (input: ProcessItemInput, a: StepAttemptContext): Promise<StepResult> =>
  Promise.resolve({ name: input.step.name, attempt: a.attempt, latencyMs: 1 });

describe('runner: the batch retry policy per item', () => {
  it('retries a retryable failure with backoff and counts attempts; gives up after maxAttempts', async () => {
    const times = new Map<string, number[]>();
    const { page, result } = await run(3, (input, a) => {
      const key = input.item.key;
      times.set(key, [...(times.get(key) ?? []), Date.now()]);
      if (key === 'K1' && a.attempt < 3) throw new Error('flaky');
      if (key === 'K2')
        throw ApplicationFailure.retryable('always 503', 'TransientTargetError', { httpStatus: 503 });
      return ok(input, a);
    });
    expect(result).toEqual({ sent: 3, stopped: false });
    expect(page.outcomes.get('K1')).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(page.outcomes.get('K2')).toMatchObject({
      status: 'failed',
      attempts: 4,
      errorType: 'TransientTargetError',
      httpStatus: 503,
      errorMessage: 'always 503',
    });
    expect(page.outcomes.get('K3')).toMatchObject({ status: 'succeeded', attempts: 1 });
    // Backoff 20, 40, 80 ms between K2's attempts (capped at 100).
    const k2 = times.get('K2')!;
    const gaps = k2.slice(1).map((t, i) => t - k2[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[2]).toBeGreaterThanOrEqual(75);
  });

  it('honours Retry-After (nextRetryDelay) over the backoff', async () => {
    const times: number[] = [];
    const { page } = await run(1, (input, a) => {
      times.push(Date.now());
      if (a.attempt === 1) {
        throw ApplicationFailure.create({ message: '429', type: 'RateLimited', nextRetryDelay: 400 });
      }
      return ok(input, a);
    });
    expect(page.outcomes.get('K1')).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(390);
  });

  it('does not retry non-retryable failures or the policy’s non-retryable types', async () => {
    const calls = new Map<string, number>();
    const { page } = await run(2, (input) => {
      calls.set(input.item.key, (calls.get(input.item.key) ?? 0) + 1);
      if (input.item.key === 'K1')
        throw ApplicationFailure.nonRetryable('422 refused', 'PermanentTargetError');
      throw ApplicationFailure.retryable('nope', 'NotWorthIt');
    });
    expect(calls).toEqual(
      new Map([
        ['K1', 1],
        ['K2', 1],
      ]),
    );
    expect(page.outcomes.get('K1')).toMatchObject({
      status: 'failed',
      attempts: 1,
      errorType: 'PermanentTargetError',
    });
    expect(page.outcomes.get('K2')).toMatchObject({ status: 'failed', attempts: 1, errorType: 'NotWorthIt' });
  });

  it('a step the workers cannot run stops the runner with that type; the item is not reported', async () => {
    const all = items(4);
    const page = new MemoryPage(all);
    const err = await run(
      4,
      (input, a) => {
        if (input.item.key === 'K2')
          throw ApplicationFailure.nonRetryable('cannot import', 'ModuleLoadError');
        return ok(input, a);
      },
      { page },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'ModuleLoadError', nonRetryable: true });
    expect(page.outcomes.has('K2')).toBe(false);
    // Items that had started finished and were reported; nothing started after the block.
    expect(page.outcomes.get('K1')?.status).toBe('succeeded');
  });
});

describe('runner: slots, pause and cancels from the page', () => {
  it('never runs more than the slots at once, and applies a change of slots', async () => {
    let now = 0;
    let most = 0;
    const all = items(12);
    const page = new MemoryPage(all);
    page.control = { slots: 3, paused: false };
    await run(
      12,
      async (input, a) => {
        now += 1;
        most = Math.max(most, now);
        if (input.item.key === 'K4') page.setControl({ slots: 1, paused: false });
        await new Promise((r) => setTimeout(r, 30));
        now -= 1;
        return ok(input, a);
      },
      { page },
    );
    expect(most).toBe(3);
    expect(page.outcomes.size).toBe(12);
  });

  it('a pause is acknowledged in a report; nothing starts after it; an operator cancel aborts a running item', async () => {
    const all = items(6);
    const page = new MemoryPage(all);
    page.control = { slots: 2, paused: false };
    const started: string[] = [];
    let pausedAt = -1;
    const runner = run(
      6,
      async (input, a) => {
        started.push(input.item.key);
        if (input.item.key === 'K1') {
          // Runs until cancelled.
          await new Promise<void>((resolve, reject) => {
            a.signal.addEventListener('abort', () => reject(new Error('aborted')));
            setTimeout(resolve, 60_000);
          });
        }
        if (input.item.key === 'K2') {
          page.setControl({ slots: 2, paused: true });
          pausedAt = page.reports.length;
        }
        // Slow enough that items are left when the runner's next poll sees the pause.
        if (input.item.key !== 'K2') await new Promise((r) => setTimeout(r, 200));
        return ok(input, a);
      },
      { page },
    );
    // The pause is acknowledged by a report that applied its version.
    await waitUntil(() => page.reports.slice(pausedAt).some((r) => r.applied >= 1) && pausedAt >= 0);
    const startedWhenAcked = started.length;
    await new Promise((r) => setTimeout(r, 600));
    expect(started.length).toBe(startedWhenAcked);
    page.link.cancel('K1');
    await waitUntil(() => page.outcomes.get('K1')?.status === 'cancelled');
    expect(page.outcomes.get('K1')).toMatchObject({ errorType: 'Cancelled', attempts: 1 });
    const waiting = all.find((i) => !started.includes(i.key))!.key;
    page.link.cancel(waiting); // not started: skipped by the runner
    page.setControl({ slots: 2, paused: false });
    await runner;
    expect(page.outcomes.get(waiting)).toMatchObject({
      status: 'skipped',
      errorType: 'CancelledBeforeStart',
    });
    expect([...page.outcomes.values()].filter((o) => o.status === 'succeeded')).toHaveLength(4);
    expect(started).not.toContain(waiting);
  });

  it('records the attempt of each running item in its heartbeat details', async () => {
    const heartbeats: unknown[] = [];
    await run(
      1,
      async (input, a) => {
        if (a.attempt === 1) throw new Error('again');
        await new Promise((r) => setTimeout(r, 1_300));
        return ok(input, a);
      },
      { heartbeats },
    );
    expect(heartbeats).toContainEqual({ attempts: [[0, 2]] });
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

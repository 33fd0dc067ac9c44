// The batch's activities held in memory: the same interface as createActivities (activities/index.ts),
// with the source, the target and the result files as plain objects, so an engine test can run the
// real workflows on a real server and steer them to an edge case: items wait until the test releases
// them, and the next results write can be held. Waiting activities heartbeat, so a cancellation
// reaches them the way it reaches real ones. Which workflows are closed is asked of the server with
// the real activities (activities/child-workflows/workflows-closed.ts).
import { Context } from '@temporalio/activity';
import type { createActivities } from '../../activities';
import { awaitWorkflowsClosed, findClosedWorkflows } from '../../activities/child-workflows/workflows-closed';
import type { WriteReportInput } from '../../activities/results/report';
import { pageOfRunner, runPageItems } from '../../activities/runner/page-runner';
import pino from 'pino';
import type { AuditDraft, Item, ItemOutcome, StepResult } from '../../workflows/types';

type Activities = ReturnType<typeof createActivities>;

const HEARTBEAT_MS = 100;
const silentLogger = pino({ level: 'silent' });

/** A promise the test resolves from outside. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Waits for `until`, heartbeating so the server can deliver a cancellation; rethrows it. */
async function waitHeartbeating(until: Promise<void>): Promise<void> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
  try {
    await Promise.race([until, ctx.cancelled]);
  } finally {
    clearInterval(beat);
  }
}

export class MemoryActivities {
  /** Keys in the order processItem was first called for them. */
  readonly started: string[] = [];
  readonly succeeded: string[] = [];
  /** Items whose running step saw its cancellation. */
  readonly cancelled: string[] = [];
  /** Results pages by number: a rewritten page replaces the earlier one, as a file would. */
  readonly resultPages = new Map<number, ItemOutcome[]>();
  /** Results writes that were held and then cancelled (nothing written). */
  cancelledWrites = 0;
  /** Audit entries by sequence number (a retried write repeats entries). */
  readonly audit = new Map<number, AuditDraft>();
  report?: WriteReportInput;

  private readonly held = new Map<string, { open(): void }>();
  /** Armed by holdNextResultsWrite(); the write that takes it waits in `waitingWrite`. */
  private heldWrite?: { promise: Promise<void>; open(): void };
  private waitingWrite?: { promise: Promise<void>; open(): void };
  private heldWriteIgnoresCancel = false;

  /** `holdItems`: every item's step waits for release(); otherwise it succeeds at once. */
  constructor(
    readonly items: Item[],
    private readonly opts: { holdItems: boolean },
  ) {}

  /** Items whose step is waiting for release(), in the order they started. */
  get waiting(): string[] {
    return [...this.held.keys()];
  }

  /** Lets a waiting item's step succeed. */
  release(key: string): void {
    const g = this.held.get(key);
    if (!g) throw new Error(`item ${key} is not waiting`);
    g.open();
  }

  /**
   * Holds the next results write until its cancellation (or releaseAll()). `ignoreCancel`: like a
   * slow disk write that does not heartbeat, it runs on after a cancel and writes when released.
   */
  holdNextResultsWrite(opts: { ignoreCancel?: boolean } = {}): void {
    this.heldWrite = gate();
    this.heldWriteIgnoresCancel = opts.ignoreCancel ?? false;
  }

  /** True while a held results write is waiting. */
  get resultsWriteWaiting(): boolean {
    return this.waitingWrite !== undefined;
  }

  /** Lets the held results write finish (it writes its page). */
  releaseWrite(): void {
    if (!this.waitingWrite) throw new Error('no results write is waiting');
    this.waitingWrite.open();
  }

  /** Releases everything still waiting (at the end of a test, before the worker stops). */
  releaseAll(): void {
    for (const g of this.held.values()) g.open();
    this.heldWrite?.open();
    this.waitingWrite?.open();
  }

  /** One item's step: it succeeds, or waits until released when items are held (`wait` sees its cancellation). */
  private async runItem(
    item: Item,
    stepName: string,
    attempt: number,
    wait: (until: Promise<void>) => Promise<void>,
  ): Promise<StepResult> {
    const started = Date.now();
    if (!this.started.includes(item.key)) this.started.push(item.key);
    if (this.opts.holdItems) {
      const g = gate();
      this.held.set(item.key, g);
      try {
        await wait(g.promise);
      } catch (err) {
        this.cancelled.push(item.key);
        throw err;
      } finally {
        this.held.delete(item.key);
      }
    }
    this.succeeded.push(item.key);
    return { name: stepName, attempt, latencyMs: Date.now() - started };
  }

  activities(): Activities {
    return {
      readPage: ({ offset, limit }) => Promise.resolve(this.items.slice(offset, offset + limit)),
      findItem: ({ key }) => Promise.resolve(this.items.find((i) => i.key === key)),
      processItem: ({ item, step }) =>
        this.runItem(item, step.name, Context.current().info.attempt, waitHeartbeating),
      // The real runner, with this class's items and an attempt that succeeds (or waits, when held).
      runPageItems: (input) => {
        const ctx = Context.current();
        return runPageItems(input, {
          checkStorage: () => Promise.resolve(),
          attempt: ({ item, step }, a) =>
            this.runItem(item, step.name, a.attempt, (until) =>
              Promise.race([
                until,
                new Promise<void>((_, reject) =>
                  a.signal.addEventListener('abort', () => reject(new Error('aborted'))),
                ),
              ]),
            ),
          readItems: (offset, limit) => Promise.resolve(this.items.slice(offset, offset + limit)),
          page: pageOfRunner(ctx.client, input),
          heartbeat: (details) => ctx.heartbeat(details),
          lastHeartbeatDetails: ctx.info.heartbeatDetails as unknown,
          cancelled: ctx.cancellationSignal,
          cancelRequested: () => ctx.cancellationDetails?.cancelRequested ?? false,
          log: silentLogger,
        });
      },
      recordAudit: ({ entries }) => {
        for (const e of entries) this.audit.set(e.seq, e);
        return Promise.resolve();
      },
      writeResultsPage: async ({ page, outcomes }) => {
        const held = this.heldWrite;
        if (held) {
          this.heldWrite = undefined;
          this.waitingWrite = held;
          try {
            await (this.heldWriteIgnoresCancel ? held.promise : waitHeartbeating(held.promise));
          } catch (err) {
            this.cancelledWrites += 1;
            throw err;
          } finally {
            this.waitingWrite = undefined;
          }
        }
        this.resultPages.set(page, outcomes);
      },
      writeReport: (input) => {
        this.report = input;
        return Promise.resolve();
      },
      awaitWorkflowsClosed,
      findClosedWorkflows,
    };
  }

  /** Every outcome written, by key (each key must appear once). */
  outcomesByKey(): Map<string, ItemOutcome> {
    const out = new Map<string, ItemOutcome>();
    for (const page of [...this.resultPages.keys()].sort((a, b) => a - b)) {
      for (const o of this.resultPages.get(page) ?? []) {
        if (out.has(o.key)) throw new Error(`outcome of ${o.key} written twice`);
        out.set(o.key, o);
      }
    }
    return out;
  }
}

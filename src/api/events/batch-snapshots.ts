// One batch's live state as the events stream and the items view need it: its status and the
// outcomes recorded but not yet in a result page (the `outcomesSince` query), or, once the workflow
// has closed, its final status. Shared by every reader of the batch in this process for a short
// while and asked once at a time, so a hundred subscribers cost one query per interval.
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import { outcomesSinceQuery, type OutcomePosition, type OutcomesSince } from '../../../workflows/messages';
import type { BatchProgress } from '../../../workflows/types';
import type { BatchClient } from '../../client/batch-client';
import { BatchStalledError } from '../../client/batch-health';
import { BatchNotFoundError } from '../../errors';
import type { ApiContext } from '../context';

export type BatchSnapshot =
  ({ closed: false; at: number } & OutcomesSince) | { closed: true; at: number; progress: BatchProgress };

/** An answer this young serves every reader it covers. */
const FRESH_MS = 300;

/** Index of a position in the unwritten tail of `s` (negative: on disk). */
export function tailIndex(s: Pick<OutcomesSince, 'resultsPage' | 'pageSize'>, p: OutcomePosition): number {
  return (p.page - s.resultsPage) * s.pageSize + p.line;
}

/** The snapshots of the service `ctx` belongs to: one per process, shared by every route. */
const perService = new WeakMap<ApiContext, BatchSnapshots>();
export function snapshotsOf(ctx: ApiContext): BatchSnapshots {
  let s = perService.get(ctx);
  if (!s) perService.set(ctx, (s = new BatchSnapshots(ctx)));
  return s;
}

export class BatchSnapshots {
  private readonly latest = new Map<string, BatchSnapshot>();
  private readonly asking = new Map<string, Promise<BatchSnapshot>>();

  constructor(private readonly ctx: ApiContext) {}

  /** A snapshot no older than FRESH_MS whose tail starts at or before `from`. */
  async get(batchId: string, from: OutcomePosition): Promise<BatchSnapshot> {
    for (;;) {
      const s = this.latest.get(batchId);
      if (s && Date.now() - s.at < FRESH_MS && covers(s, from)) return s;
      const pending = this.asking.get(batchId);
      if (pending) {
        const got = await pending;
        if (covers(got, from)) return got;
        continue;
      }
      const ask = this.ask(batchId, from).finally(() => this.asking.delete(batchId));
      this.asking.set(batchId, ask);
      return ask;
    }
  }

  /**
   * The query, asked again while it cannot be answered yet (a batch whose first workflow task has not
   * run, a worker recovering it: workflows/query-tail-guard.ts); past QUERY_BUDGET_MS a batch that
   * cannot move is a BatchStalledError (503 naming the cause), anything else the last error.
   */
  private async query(client: BatchClient, batchId: string, from: OutcomePosition): Promise<OutcomesSince> {
    const until = Date.now() + QUERY_BUDGET_MS;
    for (;;) {
      try {
        return await client.client.connection.withDeadline(until, () =>
          client.handle(batchId).query(outcomesSinceQuery, from),
        );
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new BatchNotFoundError(batchId);
        if (Date.now() >= until) {
          const stall = await client.stall(batchId);
          if (stall) throw new BatchStalledError(stall);
          throw err;
        }
        await sleep(250);
      }
    }
  }

  private async ask(batchId: string, from: OutcomePosition): Promise<BatchSnapshot> {
    const client = this.ctx.clientFor({ name: 'service', scopes: new Set() });
    const handle = client.handle(batchId);
    let running: boolean;
    try {
      running = (await handle.describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new BatchNotFoundError(batchId);
      throw err;
    }
    // A closed batch is not queried (that would replay its history on a worker): its pages are all
    // on disk and its final status is its summary, read now (a shared status answer may be from
    // before the batch ended).
    const snap: BatchSnapshot = running
      ? { closed: false, at: Date.now(), ...(await this.query(client, batchId, from)) }
      : { closed: true, at: Date.now(), progress: await this.ctx.progress(batchId, { fresh: true }) };
    this.latest.set(batchId, snap);
    if (this.latest.size > 1_000) this.latest.delete(this.latest.keys().next().value!);
    return snap;
  }
}

/** How long a snapshot query may take, retries included, before the batch's stall is looked for. */
const QUERY_BUDGET_MS = 10_000;

function covers(s: BatchSnapshot, from: OutcomePosition): boolean {
  if (s.closed) return true;
  const want = tailIndex(s, from);
  return want < 0 || want >= tailIndex(s, s.from);
}

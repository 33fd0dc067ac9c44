// Helpers for engine-level integration tests: waiting on live progress, reading the final report,
// classifying how a batch ended, and asking visibility which workflows of a batch exist.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { progressQuery } from '../../workflows/messages';
import type { BatchProgress, ItemOutcome } from '../../workflows/types';
import { readJsonLines } from './files';

/** A target that never fails on its own and answers in 1–5 ms (tests add latency per request). */
export function quietTarget(): Promise<TargetApi> {
  return startTargetApi({ failureRate: 0, rateLimitRate: 0, latencyMs: [1, 5] });
}

export interface ControlRow {
  id: string;
  delayMs: number;
  status: number;
  failAttempts: number;
  [column: string]: string | number;
}

/** `n` rows `K0001`… with the per-request controls of the target as columns (always set). */
export function controlRows(
  n: number,
  each: (i: number) => { delayMs?: number; status?: number; failAttempts?: number } = () => ({}),
): ControlRow[] {
  return Array.from({ length: n }, (_, i) => ({
    id: key(i),
    delayMs: 0,
    status: 0,
    failAttempts: 0,
    ...each(i),
  }));
}

/** The key of the row at 0-based index `i`. */
export function key(i: number): string {
  return `K${String(i + 1).padStart(4, '0')}`;
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Live progress straight from the workflow (one query, no describe). */
export function liveProgress(handle: WorkflowHandle): Promise<BatchProgress> {
  return handle.query(progressQuery);
}

/** The final progress a finished batch returned (waits for the end). */
export async function finalProgress(handle: WorkflowHandle): Promise<BatchProgress> {
  return (await handle.result()) as BatchProgress;
}

/** The exact final counts of a batch in which all `total` items succeeded. */
export function allSucceeded(total: number): Partial<BatchProgress> {
  return {
    status: 'completed',
    total,
    succeeded: total,
    failed: 0,
    skipped: 0,
    cancelled: 0,
    running: 0,
    pending: 0,
  };
}

export function finishedOf(p: BatchProgress): number {
  return p.succeeded + p.failed + p.skipped + p.cancelled;
}

export async function readSummary(outputDir: string): Promise<BatchProgress> {
  return JSON.parse(await readFile(path.join(outputDir, 'results', 'summary.json'), 'utf8')) as BatchProgress;
}

export function readItems(outputDir: string): Promise<ItemOutcome[]> {
  return readJsonLines<ItemOutcome>(path.join(outputDir, 'results', 'items.jsonl'));
}

export type BatchEnd =
  | { kind: 'returned'; progress: BatchProgress }
  | { kind: 'failed'; progress: BatchProgress; message: string }
  | { kind: 'cancelled' };

/** Waits for the batch to end and classifies how: returned, BatchFailed, or Canceled. Anything else throws. */
export async function batchEnd(handle: WorkflowHandle): Promise<BatchEnd> {
  try {
    return { kind: 'returned', progress: (await handle.result()) as BatchProgress };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    if (err.cause instanceof CancelledFailure) return { kind: 'cancelled' };
    if (err.cause instanceof ApplicationFailure && err.cause.type === 'BatchFailed') {
      return {
        kind: 'failed',
        progress: err.cause.details?.[0] as BatchProgress,
        message: err.cause.message,
      };
    }
    throw err;
  }
}

/** Runs an update expected to be rejected; returns the rejection's message (the failure's cause). */
export async function updateRejection(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      return err.cause instanceof Error ? err.cause.message : String(err.cause);
    }
    throw err;
  }
  throw new Error('the update was accepted, but a rejection was expected');
}

/** Workflow ids matching a visibility query. */
export async function listIds(client: Client, query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}

/** Item workflows (children) of a batch, optionally only those still running. */
export function childIds(
  client: Client,
  batchId: string,
  opts: { running?: boolean } = {},
): Promise<string[]> {
  const running = opts.running ? ' AND ExecutionStatus = "Running"' : '';
  return listIds(client, `BatchId = "${batchId}" AND WorkflowType = "itemWorkflow"${running}`);
}

/** Visibility query matching every workflow (parent runs and children) of the given batches. */
export function batchesQuery(batchIds: string[]): string {
  return batchIds.map((id) => `BatchId = "${id}"`).join(' OR ');
}

/** Counts outcomes in items.jsonl by `status/errorType`. */
export function tally(items: ItemOutcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) {
    const k = i.errorType ? `${i.status}/${i.errorType}` : i.status;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Requests the target received for one batch (idempotency keys are `<batchId>:<itemKey>`), by item key. */
export function receivedFor(
  target: TargetApi,
  batchId: string,
): Map<string, { attempts: number; effects: number }> {
  const out = new Map<string, { attempts: number; effects: number }>();
  for (const r of target.received()) {
    if (r.idempotencyKey.startsWith(`${batchId}:`)) {
      out.set(r.idempotencyKey.slice(batchId.length + 1), { attempts: r.attempts, effects: r.effects });
    }
  }
  return out;
}

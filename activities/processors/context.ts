// What every processor gets for one attempt of one item step, and what it returns.
import type { Logger } from 'pino';
import type { Item, StepResult } from '../../workflows/types';
import { excerpt as cutExcerpt } from '../../workflows/excerpt';

export interface ProcessorContext {
  batchId: string;
  item: Item;
  /** Step name in a pipeline; undefined for a single-processor batch. */
  stepName?: string;
  /** `<batchId>:<key>` (plus `:<step>` in pipelines): the same on every attempt. */
  idempotencyKey: string;
  attempt: number;
  /** Fires when the item is cancelled (or the activity times out). */
  signal: AbortSignal;
  /** Records progress to resume from (the activity heartbeats every second on its own). */
  heartbeat(details?: unknown): void;
  /** Details of the last heartbeat of an earlier attempt, for resuming long work. */
  lastHeartbeatDetails: unknown;
  /** Results of the earlier steps of the pipeline, by step name. */
  steps: Record<string, StepResult>;
  /** Batch output directory; processors write produced files under `documents/`. */
  outputDir: string;
  /** After `signal` fires, how long the work may take to stop before it is killed or abandoned. */
  stopGraceMs: number;
  /** Worker environment, for `${env:NAME}` references. */
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/** A processor's result for one successful attempt (the activity adds name, attempt and latency). */
export type ProcessorOutcome = Omit<StepResult, 'name' | 'attempt' | 'latencyMs'>;

/** Bounds what a step hands on: outputs travel through workflow history. */
export const MAX_BODY_CHARS = 32 * 1024;
export const MAX_OUTPUT_EXCERPT = 300;

/** Keeps a parsed body only when its JSON is small enough for history; otherwise drops it. */
export function boundedBody(body: unknown): unknown {
  if (body === undefined) return undefined;
  const text = JSON.stringify(body);
  return text !== undefined && text.length <= MAX_BODY_CHARS ? body : undefined;
}

/**
 * An output excerpt: at most `max` characters, cut at a word (workflows/excerpt.ts). Outputs keep
 * their line breaks (a later step may read them); failure messages are made one line where they
 * enter an outcome (workflows/item-run.ts).
 */
export function excerpt(text: string, max = MAX_OUTPUT_EXCERPT): string {
  return cutExcerpt(text, max);
}

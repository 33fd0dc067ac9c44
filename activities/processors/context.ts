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
  /**
   * Reports how far the item is, 0 to 100 (throttled into the item journal, shown by the service);
   * absent where nothing listens (unit tests).
   */
  progress?(percent: number): void;
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

/** Nesting a step hands on at most: deeper values overflow the stack of JSON.stringify and friends. */
export const MAX_BODY_DEPTH = 100;

/**
 * Whether `value` fits a step's body without being serialised: `too-deep` past MAX_BODY_DEPTH
 * levels, `too-large` past MAX_BODY_CHARS values (each takes at least one character of JSON).
 * Iterative, so a hostile depth cannot overflow the stack, and bounded, so cycles end it.
 */
export function bodyShape(value: unknown): 'ok' | 'too-deep' | 'too-large' {
  const pending: [unknown, number][] = [[value, 1]];
  let seen = 0;
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    if (++seen > MAX_BODY_CHARS) return 'too-large';
    if (node === null || typeof node !== 'object') continue;
    if (depth > MAX_BODY_DEPTH) return 'too-deep';
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return 'ok';
}

/**
 * Keeps a parsed body only when its JSON is small and shallow enough for history; otherwise drops
 * it. Never throws: it runs after the work took effect (a request answered, a command ran), so a
 * hostile body (too deep, cyclic, a throwing getter) costs the body, never a retry of the work.
 */
export function boundedBody(body: unknown): unknown {
  if (body === undefined) return undefined;
  try {
    if (bodyShape(body) !== 'ok') return undefined;
    const text = JSON.stringify(body);
    return text !== undefined && text.length <= MAX_BODY_CHARS ? body : undefined;
  } catch {
    return undefined; // cannot be serialised (a cycle, a throwing toJSON): it could not travel either
  }
}

/**
 * An output excerpt: at most `max` characters, cut at a word (workflows/excerpt.ts). Outputs keep
 * their line breaks (a later step may read them); failure messages are made one line where they
 * enter an outcome (workflows/item-run.ts).
 */
export function excerpt(text: string, max = MAX_OUTPUT_EXCERPT): string {
  return cutExcerpt(text, max);
}

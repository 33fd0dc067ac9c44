// What every processor gets for one attempt of one item step, and what it returns.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Item, StepResult } from '../../workflows/types';

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

export function excerpt(text: string, max = MAX_OUTPUT_EXCERPT): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  // End at a word boundary when one is near the limit, so the excerpt does not end mid-word.
  const boundary = cut.search(/\s+\S*$/);
  return `${boundary >= max * 0.8 ? cut.slice(0, boundary) : cut}…`;
}

/** Longest key kept as its own folder name; longer keys are cut here and get a hash suffix. */
const MAX_PLAIN_KEY = 100;

/**
 * The per-item document folder name: one path segment, unique per key, readable. A key made of
 * `A-Z a-z 0-9 . _ -` that does not start with `.` and has at most 100 characters is used as-is;
 * any other key is cleaned (runs of other characters become `_`, leading dots become `_`, cut to
 * 100 characters) and gets `~` plus the first 16 hex digits of the sha256 of the original key
 * (UTF-8), so `a b`, `a/b` and `a_b` stay apart. `~` never appears in a kept key, so a cleaned
 * name cannot equal one; 64 bits of hash keep even a million keys with the same cleaned prefix
 * apart. Names are ASCII and at most 117 bytes.
 */
export function safeKey(key: string): string {
  const cleaned = key
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^\.+/, '_')
    .slice(0, MAX_PLAIN_KEY);
  if (cleaned === key && key !== '') return key;
  const hash = createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16);
  return `${cleaned || '_'}~${hash}`;
}

// The target's own record of what took effect, keyed by the Idempotency-Key durabatch sent
// (`<batchId>:<itemKey>`, plus `:<step>` in pipelines), and its comparison with the batch's outcomes.
import { InputError } from '../errors';
import { readFileBounded, readResponseBounded } from '../util/bounded-read';
import type { ItemOutcome } from '../../workflows/types';

/** One idempotency key and how many times the target performed its effect. */
export interface EffectRecord {
  idempotencyKey: string;
  effects: number;
}

export interface EffectsCheck {
  /** Effects recorded for this batch's keys. */
  total: number;
  /** Items (and steps) whose effect happened more than once: a duplicate at the target. */
  duplicated: string[];
  /** Succeeded items with no recorded effect. */
  missing: string[];
  /** Items never sent (skipped: invalid or cancelled before start) that still took effect. */
  unexpected: string[];
  /** Failed or cancelled items that did take effect (the response was lost, or cancel came late). */
  effectWithoutSuccess: string[];
  /** Keys that name this batch but no item of it. */
  unknownKeys: string[];
}

/**
 * The largest ledger read, file or body: far above a million keys, below what one string can hold.
 * A larger (or endless) one stops there with an error instead of taking the process's memory.
 */
export const MAX_LEDGER_BYTES = 256 * 1024 * 1024;
/** How long fetching a ledger URL may take, answer and body. */
export const LEDGER_FETCH_TIMEOUT_MS = 120_000;

/**
 * Reads a ledger: a JSON document (`{records: [...]}` as the example target's `/_received` answers,
 * or an array of records or of key strings), JSON lines, or plain lines of keys (one line = one
 * effect). `from` is a file path or an http(s) URL; at most `limits.maxBytes` are read of it.
 */
export async function loadEffects(
  from: string,
  limits: { maxBytes?: number; timeoutMs?: number } = {},
): Promise<EffectRecord[]> {
  const maxBytes = limits.maxBytes ?? MAX_LEDGER_BYTES;
  let text: string;
  if (/^https?:\/\//.test(from)) {
    const timeoutMs = limits.timeoutMs ?? LEDGER_FETCH_TIMEOUT_MS;
    const failed = (err: unknown): never => {
      if (err instanceof InputError) throw err;
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      throw new InputError(
        timedOut
          ? `the effects ledger ${from} did not arrive within ${timeoutMs / 1000} s`
          : `cannot fetch the effects ledger ${from}: ${String(err)}`,
        'check the URL (--effects), or save the ledger to a file and give its path',
      );
    };
    const res = await fetch(from, { signal: AbortSignal.timeout(timeoutMs) }).catch(failed);
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new InputError(`the effects ledger ${from} answered ${res.status}`, 'check the URL (--effects)');
    }
    text = await readResponseBounded(res, maxBytes, {
      what: `the effects ledger ${from}`,
      hint: 'give --effects a ledger of this batch only (or split it), or check the URL',
    }).catch(failed);
  } else {
    text = await readFileBounded(from, maxBytes, {
      what: `the effects ledger ${from}`,
      hint: "give --effects a regular file holding this batch's ledger (or split it)",
    }).catch((err: unknown) => {
      if (err instanceof InputError) throw err;
      throw new InputError(
        `cannot read the effects ledger ${from}: ${(err as Error).message}`,
        'check --effects',
      );
    });
  }
  return parseEffects(text, from);
}

export function parseEffects(text: string, from: string): EffectRecord[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch {
      doc = undefined; // not one JSON document: JSON lines below
    }
    const list = Array.isArray(doc) ? doc : (doc as { records?: unknown } | undefined)?.records;
    if (Array.isArray(list)) return list.map((r, i) => toRecord(r, `${from} record ${i + 1}`));
  }
  return trimmed
    .split('\n')
    .map((line, i) => [line.trim(), i + 1] as const)
    .filter(([line]) => line !== '')
    .map(([line, n]) =>
      line.startsWith('{')
        ? toRecord(parseLine(line, `${from} line ${n}`), `${from} line ${n}`)
        : { idempotencyKey: line, effects: 1 },
    );
}

function parseLine(line: string, where: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new InputError(`${where} is not valid JSON`, 'give one key or one JSON record per line');
  }
}

function toRecord(r: unknown, where: string): EffectRecord {
  if (typeof r === 'string') return { idempotencyKey: r, effects: 1 };
  const o = r as { idempotencyKey?: unknown; key?: unknown; effects?: unknown };
  const key = o?.idempotencyKey ?? o?.key;
  if (typeof key !== 'string') {
    throw new InputError(
      `${where} has no "idempotencyKey"`,
      'each record needs {"idempotencyKey": "...", "effects": n}',
    );
  }
  return { idempotencyKey: key, effects: typeof o.effects === 'number' ? o.effects : 1 };
}

/** Compares the ledger with the outcomes (one per item). `steps` are the step names of a pipeline. */
export function checkEffects(
  batchId: string,
  outcomes: ItemOutcome[],
  ledger: EffectRecord[],
  steps: string[],
): EffectsCheck {
  const byKey = new Map(outcomes.map((o) => [o.key, o]));
  const prefix = `${batchId}:`;
  // Effects per item, and per "item:step" for pipelines.
  const perUnit = new Map<string, number>();
  const perItem = new Map<string, number>();
  const unknownKeys: string[] = [];
  let total = 0;
  for (const r of ledger) {
    if (!r.idempotencyKey.startsWith(prefix) || r.effects === 0) continue;
    const rest = r.idempotencyKey.slice(prefix.length);
    const itemKey = itemOf(rest, byKey, steps);
    if (itemKey === undefined) {
      unknownKeys.push(r.idempotencyKey);
      continue;
    }
    total += r.effects;
    perUnit.set(rest, (perUnit.get(rest) ?? 0) + r.effects);
    perItem.set(itemKey, (perItem.get(itemKey) ?? 0) + r.effects);
  }
  const duplicated = [...perUnit].filter(([, n]) => n > 1).map(([unit, n]) => `${unit} ×${n}`);
  const missing: string[] = [];
  const unexpected: string[] = [];
  const effectWithoutSuccess: string[] = [];
  for (const o of outcomes) {
    const n = perItem.get(o.key) ?? 0;
    if (o.status === 'succeeded' && n === 0) missing.push(o.key);
    else if (o.status === 'skipped' && n > 0) unexpected.push(o.key);
    else if ((o.status === 'failed' || o.status === 'cancelled') && n > 0) effectWithoutSuccess.push(o.key);
  }
  return { total, duplicated, missing, unexpected, effectWithoutSuccess, unknownKeys };
}

function itemOf(rest: string, items: Map<string, unknown>, steps: string[]): string | undefined {
  if (items.has(rest)) return rest;
  const cut = rest.lastIndexOf(':');
  if (cut > 0 && steps.includes(rest.slice(cut + 1)) && items.has(rest.slice(0, cut)))
    return rest.slice(0, cut);
  return undefined;
}

// Shape checks for every message a durabatch workflow receives. Any client can send any signal by name
// (the Web UI's "Send a Signal" takes any name and any JSON), so a handler never trusts its payload:
// it is checked here field by field and rebuilt with only the known fields. Hand-written, because
// the workflow bundle stays free of runtime dependencies. Each parser returns the clean value, or a
// string saying what is wrong (for the workflow's log).
import { ApplicationFailure, log, TemporalFailure, uuid4 } from '@temporalio/workflow';
import { hasPatch } from './patches';
import type { ItemBlocked, ItemsCompleted, PageControl, PageCost } from './messages';
import { childToken } from './message-token';
import { RUNNER_KEYS_SHOWN, type RunnerReport } from './runner-protocol';
import type { ItemOutcome, ItemStatus } from './types';

export type Parsed<T> = { ok: T } | { problem: string };

const STATUSES: readonly ItemStatus[] = ['succeeded', 'failed', 'skipped', 'cancelled'];
/** Longest text logged from a rejected message (a forged payload may be of any size). */
const MAX_LOGGED = 200;

type Fields = Record<string, unknown>;

function isObject(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isText = (v: unknown): v is string => typeof v === 'string';
const optional = (v: unknown, check: (v: unknown) => boolean) => v === undefined || check(v);

/** A short, bounded rendering of a value for a log line. */
export function shown(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > MAX_LOGGED ? `${s.slice(0, MAX_LOGGED)}…` : s;
}

/** An item's terminal outcome, as a child reports it. Only the known fields are kept. */
export function parseOutcome(v: unknown): Parsed<ItemOutcome> {
  if (!isObject(v)) return { problem: `outcome is not an object: ${shown(v)}` };
  if (!isText(v.key) || v.key === '') return { problem: 'outcome has no "key"' };
  const bad = (field: string) => ({ problem: `outcome of "${shown(v.key)}" has an invalid "${field}"` });
  if (!isCount(v.index)) return bad('index');
  if (!STATUSES.includes(v.status as ItemStatus)) return bad('status');
  if (!isCount(v.attempts)) return bad('attempts');
  if (!isNumber(v.latencyMs)) return bad('latencyMs');
  if (!isText(v.startedAt)) return bad('startedAt');
  if (!isText(v.endedAt)) return bad('endedAt');
  for (const f of ['errorType', 'errorMessage', 'output', 'failedStep'] as const) {
    if (!optional(v[f], isText)) return bad(f);
  }
  if (!optional(v.httpStatus, isCount)) return bad('httpStatus');
  if (!optional(v.cost, isNumber)) return bad('cost');
  if (!optional(v.filesTotal, isCount)) return bad('filesTotal');
  if (!optional(v.files, (f) => Array.isArray(f) && f.every(isText))) return bad('files');
  const step = (s: unknown) => isObject(s) && isText(s.name) && isCount(s.attempts) && isNumber(s.latencyMs);
  if (!optional(v.steps, (s) => Array.isArray(s) && s.every(step))) return bad('steps');
  const o: ItemOutcome = {
    index: v.index,
    key: v.key,
    status: v.status as ItemStatus,
    attempts: v.attempts,
    latencyMs: v.latencyMs,
    startedAt: v.startedAt,
    endedAt: v.endedAt,
  };
  if (v.errorType !== undefined) o.errorType = v.errorType as string;
  if (v.errorMessage !== undefined) o.errorMessage = v.errorMessage as string;
  if (v.httpStatus !== undefined) o.httpStatus = v.httpStatus as number;
  if (v.cost !== undefined) o.cost = v.cost as number;
  if (v.output !== undefined) o.output = v.output as string;
  if (v.failedStep !== undefined) o.failedStep = v.failedStep as string;
  if (v.files !== undefined) o.files = [...(v.files as string[])];
  if (v.filesTotal !== undefined) o.filesTotal = v.filesTotal as number;
  if (v.steps !== undefined) {
    o.steps = (v.steps as Fields[]).map((s) => ({
      name: s.name as string,
      attempts: s.attempts as number,
      latencyMs: s.latencyMs as number,
    }));
  }
  return { ok: o };
}

/**
 * The token the child `childId` is started with, or undefined in a run replayed from before tokens.
 * `enabled`: the caller's once-per-run decision (see `tokensEnabled`). With the batch's message
 * secret (BatchInput.messageSecret) it is derived from it and cannot be computed without it. A batch
 * started by an older client has none: its tokens come from `uuid4()`, i.e. the workflow's PRNG,
 * seeded from the run id, so whoever reads the run id and knows the SDK can compute them (weaker:
 * they only keep out senders who do not know how). Either way the token is kept with the child in
 * flight and checked against that copy, so children started before a worker upgrade still validate.
 */
export function senderToken(
  enabled: boolean,
  secret: string | undefined,
  childId: string,
): string | undefined {
  if (!enabled) return undefined;
  // A hand-made input could hold anything there: only a non-empty text is a secret.
  return typeof secret === 'string' && secret !== '' ? childToken(secret, childId) : uuid4();
}

/** Whether this run gives children tokens: call once per run, at the first child start. */
export function tokensEnabled(): boolean {
  return hasPatch('senderToken');
}

/** Who says it sent a message: the child's workflow id and the token its parent gave it. */
export interface Sender {
  childId?: string;
  token?: string;
}

function parseSender(v: Fields): Parsed<Sender> {
  if (!optional(v.childId, isText)) return { problem: 'invalid "childId"' };
  if (!optional(v.token, isText)) return { problem: 'invalid "token"' };
  return { ok: { childId: v.childId as string | undefined, token: v.token as string | undefined } };
}

/** An item child's `itemCompleted`: the outcome, and who sent it. */
export function parseItemCompleted(v: unknown): Parsed<{ outcome: ItemOutcome; sender: Sender }> {
  const outcome = parseOutcome(v);
  if ('problem' in outcome) return outcome;
  const sender = parseSender(v as Fields);
  if ('problem' in sender) return { problem: `outcome of "${shown(outcome.ok.key)}": ${sender.problem}` };
  return { ok: { outcome: outcome.ok, sender: sender.ok } };
}

function parseCost(v: unknown): PageCost | undefined | false {
  if (v === undefined) return undefined;
  if (!isObject(v) || !isNumber(v.spent) || !isNumber(v.inflight)) return false;
  if (!optional(v.need, isNumber) || !optional(v.needKey, isText)) return false;
  const c: PageCost = { spent: v.spent, inflight: v.inflight };
  if (v.need !== undefined) c.need = v.need as number;
  if (v.needKey !== undefined) c.needKey = v.needKey as string;
  return c;
}

/** A page child's `itemsCompleted`: every outcome must be well formed, or none is taken. */
export function parseItemsCompleted(v: unknown): Parsed<ItemsCompleted & { token?: string }> {
  if (!isObject(v)) return { problem: `itemsCompleted is not an object: ${shown(v)}` };
  if (!isText(v.childId)) return { problem: 'itemsCompleted has no "childId"' };
  const bad = (field: string) => ({
    problem: `itemsCompleted from "${shown(v.childId)}" has an invalid "${field}"`,
  });
  if (!Array.isArray(v.outcomes)) return bad('outcomes');
  if (!isCount(v.unfinished)) return bad('unfinished');
  if (!optional(v.running, isCount)) return bad('running');
  if (!optional(v.paused, (p) => typeof p === 'boolean')) return bad('paused');
  if (!optional(v.ack, isCount)) return bad('ack');
  if (!optional(v.token, isText)) return bad('token');
  const cost = parseCost(v.cost);
  if (cost === false) return bad('cost');
  const outcomes: ItemOutcome[] = [];
  for (const raw of v.outcomes as unknown[]) {
    const o = parseOutcome(raw);
    if ('problem' in o) return { problem: `itemsCompleted from "${shown(v.childId)}": ${o.problem}` };
    outcomes.push(o.ok);
  }
  const out: ItemsCompleted & { token?: string } = {
    childId: v.childId,
    outcomes,
    unfinished: v.unfinished,
  };
  if (v.running !== undefined) out.running = v.running as number;
  if (v.paused !== undefined) out.paused = v.paused as boolean;
  if (cost !== undefined) out.cost = cost;
  if (v.ack !== undefined) out.ack = v.ack as number;
  if (v.token !== undefined) out.token = v.token as string;
  return { ok: out };
}

/** A child's `itemBlocked`. */
export function parseItemBlocked(v: unknown): Parsed<ItemBlocked & { token?: string }> {
  if (!isObject(v)) return { problem: `itemBlocked is not an object: ${shown(v)}` };
  if (!isText(v.key) || !isText(v.errorType) || !isText(v.errorMessage)) {
    return { problem: `itemBlocked needs "key", "errorType" and "errorMessage" strings: ${shown(v)}` };
  }
  const sender = parseSender(v);
  if ('problem' in sender) return { problem: `itemBlocked of "${shown(v.key)}": ${sender.problem}` };
  return {
    ok: {
      key: v.key,
      errorType: v.errorType,
      errorMessage: v.errorMessage,
      ...(sender.ok.childId !== undefined ? { childId: sender.ok.childId } : {}),
      ...(sender.ok.token !== undefined ? { token: sender.ok.token } : {}),
    },
  };
}

/** The parent's `pageControl` to a page. */
export function parsePageControl(v: unknown): Parsed<PageControl & { token?: string }> {
  if (!isObject(v)) return { problem: `pageControl is not an object: ${shown(v)}` };
  if (!isCount(v.slots)) return { problem: 'pageControl has an invalid "slots"' };
  if (typeof v.paused !== 'boolean') return { problem: 'pageControl has an invalid "paused"' };
  const positive = (n: unknown) => isNumber(n) && n > 0;
  const nonNegative = (n: unknown) => isNumber(n) && n >= 0;
  if (!optional(v.ratePerSec, positive)) return { problem: 'pageControl has an invalid "ratePerSec"' };
  if (!optional(v.costAllowance, nonNegative) || !optional(v.avgCost, nonNegative)) {
    return { problem: 'pageControl has an invalid cost allowance' };
  }
  if (!optional(v.reclaim, isCount)) return { problem: 'pageControl has an invalid "reclaim"' };
  if (!optional(v.token, isText)) return { problem: 'pageControl has an invalid "token"' };
  const c: PageControl & { token?: string } = { slots: v.slots, paused: v.paused };
  if (v.ratePerSec !== undefined) c.ratePerSec = v.ratePerSec as number;
  if (v.costAllowance !== undefined) c.costAllowance = v.costAllowance as number;
  if (v.avgCost !== undefined) c.avgCost = v.avgCost as number;
  if (v.reclaim !== undefined) c.reclaim = v.reclaim as number;
  if (v.token !== undefined) c.token = v.token as string;
  return { ok: c };
}

/** A runner activity's `runnerReport` to its page. */
export function parseRunnerReport(v: unknown): Parsed<RunnerReport> {
  if (!isObject(v)) return { problem: `runnerReport is not an object: ${shown(v)}` };
  const bad = (field: string) => ({ problem: `runnerReport has an invalid "${field}"` });
  if (!Array.isArray(v.outcomes)) return bad('outcomes');
  if (!isCount(v.applied)) return bad('applied');
  if (!isCount(v.running)) return bad('running');
  if (!Array.isArray(v.runningKeys) || !v.runningKeys.every(isText)) return bad('runningKeys');
  const nonNegative = (n: unknown) => isNumber(n) && n >= 0;
  if (!optional(v.inflight, nonNegative)) return bad('inflight');
  if (!optional(v.need, nonNegative)) return bad('need');
  if (!optional(v.needKey, isText)) return bad('needKey');
  if (!optional(v.token, isText)) return bad('token');
  const outcomes: ItemOutcome[] = [];
  for (const raw of v.outcomes as unknown[]) {
    const o = parseOutcome(raw);
    if ('problem' in o) return { problem: `runnerReport: ${o.problem}` };
    outcomes.push(o.ok);
  }
  const out: RunnerReport = {
    outcomes,
    applied: v.applied,
    running: v.running,
    runningKeys: v.runningKeys.slice(0, RUNNER_KEYS_SHOWN),
  };
  if (v.inflight !== undefined) out.inflight = v.inflight as number;
  if (v.need !== undefined) out.need = v.need as number;
  if (v.needKey !== undefined) out.needKey = v.needKey as string;
  if (v.token !== undefined) out.token = v.token as string;
  return { ok: out };
}

/** The parent's `pageCancelItem` to a page. */
export function parsePageCancelItem(v: unknown): Parsed<{ key: string; token?: string }> {
  if (!isObject(v) || !isText(v.key) || v.key === '' || !optional(v.token, isText)) {
    return { problem: `pageCancelItem needs {"key": "<item key>"}: ${shown(v)}` };
  }
  return { ok: { key: v.key, ...(v.token !== undefined ? { token: v.token as string } : {}) } };
}

/** The operator's `pause`: no payload, or `{ "reason": "..." }`. */
export function parsePause(v: unknown): Parsed<{ reason?: string }> {
  if (v === undefined || v === null) return { ok: {} };
  if (!isObject(v) || !optional(v.reason, isText)) {
    return { problem: `pause takes no input or {"reason": "why"}, got ${shown(v)}` };
  }
  const reason = v.reason as string | undefined;
  // The reason is shown in status and the Web UI: bounded like other messages.
  return { ok: reason === undefined ? {} : { reason: reason.slice(0, 500) } };
}

/**
 * Whether a message claiming to come from the holder of `expected` may be taken: a holder started
 * with a token must send it (a forged message cannot know it); one started before tokens existed
 * (an older run's child) is recognised by its key alone.
 */
export function fromHolder(expected: { childId: string; token?: string }, sender: Sender): boolean {
  if (sender.childId !== undefined && sender.childId !== expected.childId) return false;
  return expected.token === undefined || sender.token === expected.token;
}

/**
 * Whether a parent → child message may be taken: a child started with a token takes only messages
 * that carry it; one started before tokens takes any.
 */
export function fromParent(expected: string | undefined, raw: unknown): boolean {
  if (expected === undefined) return true;
  return isObject(raw) && raw.token === expected;
}

/** Logs a message that was ignored, and why (bounded: a forged payload may be of any size). */
export function ignored(message: string, why: string, fields: Record<string, unknown> = {}): void {
  log.warn(`ignored ${message} signal: ${why}`, fields);
}

/**
 * Runs a signal handler so that it never throws: a handler that throws fails the workflow task, and
 * a forged message would then stop the batch for good. A bug is logged and the message dropped. A
 * synchronous handler stays synchronous (the same commands, in the same order, as without this).
 */
export function neverThrows<A extends unknown[]>(
  message: string,
  handler: (...args: A) => void | Promise<void>,
): (...args: A) => void | Promise<void> {
  const dropped = (err: unknown) =>
    log.warn(`${message} handler failed; the message was dropped`, {
      error: err instanceof Error ? err.message : String(err),
    });
  return (...args: A) => {
    try {
      const result = handler(...args);
      if (result !== undefined) return result.catch(dropped);
    } catch (err) {
      dropped(err);
    }
  };
}

/**
 * Runs an update handler so that an unexpected error rejects the update (with a message) instead of
 * failing the workflow task: only a TemporalFailure rejects an update, anything else is a bug
 * that would retry the task for ever. (Any TemporalFailure, e.g. a cancellation, rejects it already.)
 */
export function rejectsOnError<A extends unknown[], R>(
  message: string,
  handler: (...args: A) => R | Promise<R>,
): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await handler(...args);
    } catch (err) {
      if (err instanceof TemporalFailure) throw err;
      log.warn(`${message} handler failed`, { error: err instanceof Error ? err.message : String(err) });
      throw ApplicationFailure.nonRetryable(
        `${message} failed: ${err instanceof Error ? err.message : String(err)}`,
        'MessageFailed',
      );
    }
  };
}

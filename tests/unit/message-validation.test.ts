// The shape checks every workflow handler runs on its payload before it touches the batch's state:
// anything but a complete, well-typed message is refused with a reason, and only known fields are
// kept (a forged extra field never reaches items.jsonl). The integration side (forged signals sent
// to a running batch) is tests/integration/forged-signals.test.ts.
import { describe, expect, it } from 'vitest';
import {
  fromHolder,
  fromParent,
  parseItemBlocked,
  parseItemCompleted,
  parseItemsCompleted,
  parseOutcome,
  parsePageCancelItem,
  parsePageControl,
  parsePause,
  shown,
} from '../../workflows/message-validation';
import type { ItemOutcome } from '../../workflows/types';

const outcome: ItemOutcome = {
  index: 3,
  key: 'K0004',
  status: 'failed',
  attempts: 2,
  latencyMs: 12.5,
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:01.000Z',
  errorType: 'PermanentTargetError',
  errorMessage: 'answered 422',
  httpStatus: 422,
  steps: [{ name: 'a', attempts: 2, latencyMs: 5 }],
  files: ['documents/K0004/a.txt'],
};

describe('message validation', () => {
  it('takes a complete outcome and keeps only its known fields', () => {
    const parsed = parseItemCompleted({ ...outcome, childId: 'b/K0004', token: 't', extra: 'x'.repeat(10) });
    expect(parsed).toEqual({ ok: { outcome, sender: { childId: 'b/K0004', token: 't' } } });
  });

  it.each([
    [null, 'outcome is not an object: null'],
    [42, 'outcome is not an object: 42'],
    [[outcome], 'outcome is not an object'],
    [{ ...outcome, key: '' }, 'outcome has no "key"'],
    [{ key: 'K0004' }, 'invalid "index"'],
    [{ ...outcome, index: -1 }, 'invalid "index"'],
    [{ ...outcome, index: 1.5 }, 'invalid "index"'],
    [{ ...outcome, status: 'done' }, 'invalid "status"'],
    [{ ...outcome, attempts: '2' }, 'invalid "attempts"'],
    [{ ...outcome, latencyMs: Number.NaN }, 'invalid "latencyMs"'],
    [{ ...outcome, endedAt: undefined }, 'invalid "endedAt"'],
    [{ ...outcome, errorMessage: { a: 1 } }, 'invalid "errorMessage"'],
    [{ ...outcome, cost: Infinity }, 'invalid "cost"'],
    [{ ...outcome, files: [1] }, 'invalid "files"'],
    [{ ...outcome, steps: [null] }, 'invalid "steps"'],
  ])('refuses %j: %s', (payload, problem) => {
    const parsed = parseOutcome(payload);
    expect(parsed).toHaveProperty('problem');
    expect((parsed as { problem: string }).problem).toContain(problem);
  });

  it('takes a page report only when every outcome and count is well formed', () => {
    const report = { childId: 'b/page-0', outcomes: [outcome], unfinished: 2, running: 1, paused: false };
    expect(parseItemsCompleted(report)).toEqual({ ok: report });
    for (const bad of [
      null,
      { ...report, childId: 7 },
      { ...report, outcomes: 'all' },
      { ...report, outcomes: [outcome, { key: 'K1' }] },
      { ...report, unfinished: -1 },
      { ...report, running: 'one' },
      { ...report, cost: { spent: 'x', inflight: 0 } },
    ]) {
      expect(parseItemsCompleted(bad), JSON.stringify(bad)).toHaveProperty('problem');
    }
  });

  it('checks itemBlocked, pageControl, pageCancelItem and pause', () => {
    expect(parseItemBlocked({ key: 'K1', errorType: 'T', errorMessage: 'm', token: 't' })).toEqual({
      ok: { key: 'K1', errorType: 'T', errorMessage: 'm', token: 't' },
    });
    expect(parseItemBlocked({ key: 'K1' })).toHaveProperty('problem');
    expect(parsePageControl({ slots: 2, paused: false, token: 't' })).toEqual({
      ok: { slots: 2, paused: false, token: 't' },
    });
    for (const bad of [
      null,
      { slots: -1, paused: false },
      { slots: 2 },
      { slots: 2, paused: false, ratePerSec: 0 },
    ]) {
      expect(parsePageControl(bad), JSON.stringify(bad)).toHaveProperty('problem');
    }
    expect(parsePageCancelItem({ key: 'K1' })).toEqual({ ok: { key: 'K1' } });
    expect(parsePageCancelItem({ key: 5 })).toHaveProperty('problem');
    expect(parsePause(undefined)).toEqual({ ok: {} });
    expect(parsePause({ reason: 'r'.repeat(600) })).toEqual({ ok: { reason: 'r'.repeat(500) } });
    expect(parsePause('stop')).toHaveProperty('problem');
  });

  it('knows a sender by its child id and token; children from before tokens by key alone', () => {
    expect(fromHolder({ childId: 'b/K1', token: 't' }, { childId: 'b/K1', token: 't' })).toBe(true);
    expect(fromHolder({ childId: 'b/K1', token: 't' }, { childId: 'b/K1' })).toBe(false);
    expect(fromHolder({ childId: 'b/K1', token: 't' }, { token: 'u' })).toBe(false);
    expect(fromHolder({ childId: 'b/K1' }, { childId: 'b/K2' })).toBe(false);
    expect(fromHolder({ childId: 'b/K1' }, {})).toBe(true);
    expect(fromParent('t', { token: 't' })).toBe(true);
    expect(fromParent('t', null)).toBe(false);
    expect(fromParent('t', { token: 'u' })).toBe(false);
    expect(fromParent(undefined, null)).toBe(true);
  });

  it('bounds what it logs of a forged payload', () => {
    expect(shown('x'.repeat(1_000))).toHaveLength(201);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(shown(cyclic)).toBe('[object Object]');
  });
});

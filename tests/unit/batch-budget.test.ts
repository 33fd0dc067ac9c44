// Costs and limits without a server: what an item is expected to cost, what the parent holds against
// the budget (items or pages in flight, in their lane), the budget pause, a page's allowance, and
// setLimits checks.
import { describe, expect, it } from 'vitest';
import { averageCost, expectedCost, itemCost } from '../../workflows/cost';
import { validateLimits } from '../../workflows/messages';
import { PageBudget } from '../../workflows/page-budget';
import type { PageControl } from '../../workflows/messages';
import { emptyStats, recordOutcome } from '../../workflows/stats';
import type { Item } from '../../workflows/types';
import { progressOf } from '../../workflows/batch-progress';
import {
  inFlightItems,
  inFlightPage,
  itemLaneOf,
  key,
  newState,
  outcome,
  pageLaneWith,
} from '../helpers/engine-state';

const item = (i: number, data: Record<string, unknown> = {}): Item => ({
  index: i,
  key: key(i),
  line: i + 2,
  data,
});

describe('expected and recorded item costs', () => {
  it("expects the item's cost field, else the per-item constant, else the batch's average so far", () => {
    const stats = emptyStats();
    const policy = { field: 'price', perItem: 1 };
    expect(expectedCost(item(0, { price: '2.5' }), policy, stats)).toBe(2.5);
    expect(expectedCost(item(0, { price: 0 }), policy, stats)).toBe(0);
    // A field that is not a cost (text, blank, negative, absent) falls back to the constant.
    for (const price of ['abc', ' ', -1, undefined]) {
      expect(expectedCost(item(0, { price }), policy, stats), String(price)).toBe(1);
    }
    expect(expectedCost(item(0), undefined, stats)).toBe(0);
    for (const cost of [1, 2, 3]) recordOutcome(stats, outcome(0, 'succeeded', { cost }));
    recordOutcome(stats, outcome(1, 'failed'));
    expect(averageCost(stats)).toBe(1.5);
    expect(expectedCost(item(0), { field: 'price' }, stats)).toBe(1.5);
  });

  it('records what the processor reported, else the field, else the constant, else nothing', () => {
    const policy = { field: 'price', perItem: 1 };
    expect(itemCost(item(0, { price: 3 }), policy, 0.7)).toBe(0.7);
    expect(itemCost(item(0, { price: 3 }), policy, undefined)).toBe(3);
    expect(itemCost(item(0), policy, undefined)).toBe(1);
    expect(itemCost(item(0), undefined, undefined)).toBeUndefined();
  });
});

describe('the parent against its budget', () => {
  it('holds spent cost and the expected cost of items in flight', () => {
    const s = newState(20, { limits: { concurrency: 10, budget: 20 } });
    const lane = itemLaneOf(s, [
      ...inFlightItems(0, 2, 1.5),
      ...inFlightItems(3, 3), // a cost known only once it ran: nothing held
    ]);
    lane.takeItemReport(outcome(0, 'succeeded', { cost: 2 }), {});
    // 2 spent + 2 × 1.5 in flight
    expect(lane.committedCost).toBe(5);
  });

  it('holds spent cost, what pages committed and what they may still commit', () => {
    const s = newState(20, { limits: { concurrency: 10, budget: 20 } });
    s.record(outcome(0, 'succeeded', { cost: 2 }));
    const lane = pageLaneWith(s, [inFlightPage(4, 10, 2, { allowance: 10, spent: 3, pendingCost: 2 })]);
    // 2 spent + 2 the page committed beyond what it reported
    expect(lane.committedCost).toBe(4);
    // + what the page may still commit: 10 − 3 − 2
    expect(lane.reservedCost).toBe(9);
  });

  it('pauses for the budget saying what is spent, in flight and next, and audits it', () => {
    const s = newState(20, { limits: { concurrency: 3, budget: 10 } });
    const lane = itemLaneOf(s, [...inFlightItems(0, 1, 1.5), ...inFlightItems(2, 3, 4)]);
    lane.takeItemReport(outcome(0, 'succeeded', { cost: 0.1 }), {});
    lane.takeItemReport(outcome(1, 'succeeded', { cost: 0.2 }), {});
    s.pauseForBudget(10, { key: key(4), cost: 2.5 }, lane.committedCost);

    const reason =
      'budget 10 reached: spent 0.3, in flight 8, next item K0005 would cost 2.5; ' +
      'raise it with `durabatch set b --budget N` and resume';
    expect(s.paused).toBe(true);
    expect(s.pauseReason).toBe(reason);
    expect(s.currentStatus()).toBe('paused');
    expect(s.auditQueue).toEqual([
      {
        action: 'pause',
        by: 'budget',
        args: { budget: 10, spent: 0.1 + 0.2, committed: 0.1 + 0.2 + 8, reason },
        seq: 1,
        at: expect.any(String) as string,
      },
    ]);
    expect(progressOf(s, lane.running, '/out', null)).toMatchObject({
      status: 'paused',
      statusReason: reason,
      etaSeconds: null,
    });
  });

  it("takes a page's reported cost once per outcome and gives back what a page can no longer commit", () => {
    const s = newState(4, { limits: { concurrency: 2, budget: 6 } });
    const page = inFlightPage(0, 4, 2, { allowance: 6 });
    const lane = pageLaneWith(s, [page]);
    const costs = { spent: 2, inflight: 1.5, need: 2, needKey: key(3) };
    lane.applyReport(
      page.childId,
      [outcome(0, 'succeeded', { cost: 1 }), outcome(1, 'succeeded', { cost: 1 })],
      2,
      costs,
      { running: 1 },
    );
    expect(page).toMatchObject({ spent: 2, pendingCost: 1.5, need: { cost: 2, key: key(3) }, allowance: 6 });
    expect([lane.committedCost, lane.reservedCost]).toEqual([3.5, 6]);

    // A repeated report of the same outcome adds no cost.
    lane.applyReport(page.childId, [outcome(1, 'succeeded', { cost: 1 })], 2, costs, { running: 1 });
    expect(page.spent).toBe(2);

    // Nothing left to start (1 unfinished, 1 running): its allowance shrinks to what it committed.
    lane.applyReport(
      page.childId,
      [outcome(2, 'succeeded', { cost: 1 })],
      1,
      { spent: 3, inflight: 1 },
      {
        running: 1,
      },
    );
    expect(page).toMatchObject({ spent: 3, pendingCost: 1, allowance: 4 });
    expect(page.need).toBeUndefined();
    expect([lane.committedCost, lane.reservedCost]).toEqual([4, 4]);
  });
});

describe("a page's side of the budget", () => {
  const pageBudget = (control: PageControl) => new PageBudget({ field: 'cost' }, () => control);

  it('starts an item only while spent + in flight + its cost stays within the allowance', () => {
    const b = pageBudget({ slots: 3, paused: false, costAllowance: 5, avgCost: 1 });
    const [a, bb, c] = [item(0, { cost: 2 }), item(1, { cost: 2 }), item(2, { cost: 2 })];
    b.started(a);
    expect(b.fits(bb)).toBe(true);
    b.started(bb);
    expect(b.fits(c)).toBe(false);
    expect(b.report(c)).toEqual({ spent: 0, inflight: 4, need: 2, needKey: key(2) });

    b.finished(a.key, 1.5);
    expect(b.fits(c)).toBe(false); // 1.5 + 2 + 2 > 5
    b.finished(bb.key, undefined);
    expect(b.fits(c)).toBe(true);
    expect(b.report(c)).toEqual({ spent: 1.5, inflight: 0 });
    // An item without a cost field is expected to cost the batch's average.
    expect(b.report(item(3))).toEqual({ spent: 1.5, inflight: 0 });
    // An item that fills the allowance exactly fits, whatever the floating-point sum says (0.1 + 0.2).
    expect(pageBudget({ slots: 1, paused: false, costAllowance: 1, avgCost: 1 }).fits(item(3))).toBe(true);
    expect(pageBudget({ slots: 1, paused: false, costAllowance: 0.99, avgCost: 1 }).fits(item(3))).toBe(
      false,
    );
    const exact = pageBudget({ slots: 2, paused: false, costAllowance: 0.3 });
    exact.finished(key(0), 0.1);
    expect(exact.fits(item(1, { cost: 0.2 }))).toBe(true);
  });

  it('without an allowance everything fits and nothing is reported', () => {
    const b = pageBudget({ slots: 3, paused: false });
    b.started(item(0, { cost: 100 }));
    expect(b.fits(item(1, { cost: 1e9 }))).toBe(true);
    expect(b.report(item(1))).toBeUndefined();
  });
});

describe('setLimits checks', () => {
  it.each([
    [{}, 'setLimits needs "concurrency", "rate" and/or "budget", e.g. {"concurrency": 20}'],
    [{ concurrency: 0 }, 'concurrency must be a whole number from 1 to 1000, got 0'],
    [{ concurrency: 1001 }, 'concurrency must be a whole number from 1 to 1000, got 1001'],
    [{ concurrency: 2.5 }, 'concurrency must be a whole number from 1 to 1000, got 2.5'],
    [
      { rate: 0 },
      'rate must be a number of items per second above 0 and at most 10000 (or null for no pacing), got 0',
    ],
    [
      { rate: 10_001 },
      'rate must be a number of items per second above 0 and at most 10000 (or null for no pacing), got 10001',
    ],
    [{ budget: -1 }, 'budget must be a number above 0 (or null for no budget), got -1'],
    [{ budget: Number.NaN }, 'budget must be a number above 0 (or null for no budget), got NaN'],
    [{ budget: '5' as unknown as number }, 'budget must be a number above 0 (or null for no budget), got 5'],
  ])('refuses %j', (input, message) => {
    expect(validateLimits(input)).toBe(message);
  });

  it.each([
    { concurrency: 1 },
    { concurrency: 1000 },
    { rate: 10_000 },
    { rate: null },
    { budget: 0.01 },
    { budget: null },
  ])('accepts %j', (input) => {
    expect(validateLimits(input)).toBeUndefined();
  });
});

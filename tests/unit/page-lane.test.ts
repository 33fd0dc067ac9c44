// The page lane's planning (workflows/lanes/page-lane.ts) on plain data, without a server: how the
// concurrency is split into page slots and rebalanced, how a page's report is applied, when the lane
// wants a turn of the batch loop, and the budget's grant round. Starting pages and signalling them
// need a workflow; everything here is what decides what they are told.
import { describe, expect, it } from 'vitest';
import { progressOf } from '../../workflows/batch-progress';
import type { InFlightPage } from '../../workflows/carried-state';
import { inFlightPage, itemLaneWith, key, newState, outcome, pageLaneWith } from '../helpers/engine-state';

const OPERATOR = { kind: 'signal', name: 'pause' } as const;
const UPDATE = { kind: 'update', updateId: 'u1' } as const;

describe('slotCap: the most slots a page may hold', () => {
  it('half the concurrency (rounded up) for a page started while another could run, all for the last', () => {
    const s = newState(20, { limits: { concurrency: 5 } });
    const lane = pageLaneWith(s, [], { itemsPerChild: 5 });
    expect(lane.slotCap(undefined, 5)).toBe(3);
    expect(lane.slotCap(undefined, 20)).toBe(5);
  });

  it('half while another page in flight has items unreported; all once it has left', () => {
    const s = newState(20, { limits: { concurrency: 4 } });
    const a = inFlightPage(0, 10, 2);
    const b = inFlightPage(10, 10, 2);
    const lane = pageLaneWith(s, [a, b]);
    expect(s.walked).toBe(true);
    expect([lane.slotCap(a), lane.slotCap(b)]).toEqual([2, 2]);

    const all = Array.from({ length: 10 }, (_, i) => outcome(i));
    lane.applyReport(a.childId, all, 0);
    expect(lane.inFlight.has(a.childId)).toBe(false);
    expect(lane.slotCap(b)).toBe(4);
  });

  it('the whole concurrency in a run from before the split', () => {
    const s = newState(20, { limits: { concurrency: 4 } });
    const a = inFlightPage(0, 10, 4);
    const lane = pageLaneWith(s, [a, inFlightPage(10, 10, 0)], { patches: { pageSlotSplit: false } });
    expect([lane.slotCap(a), lane.slotCap(undefined, 0)]).toEqual([4, 4]);
  });
});

describe('planSlots: fitting the pages to the concurrency', () => {
  it('a lowered concurrency takes slots back from the largest pages first', () => {
    const s = newState(30, { limits: { concurrency: 8 } });
    const [a, b, c] = [inFlightPage(0, 10, 3), inFlightPage(10, 10, 4), inFlightPage(20, 10, 1)];
    const lane = pageLaneWith(s, [a, b, c]);
    s.setLimits({ concurrency: 3 }, UPDATE);
    lane.planSlots();
    expect([a.slots, b.slots, c.slots]).toEqual([2, 0, 1]);
    expect([lane.usedSlots, lane.hasStandby]).toEqual([3, true]);
  });

  it('free slots go to pages with more unfinished items than slots, within their cap', () => {
    const plan = (pageSlotSplit: boolean) => {
      const s = newState(30, { limits: { concurrency: 6 } });
      const a = inFlightPage(0, 10, 1);
      const b = inFlightPage(10, 4, 1, { done: '1110', unfinished: 1 });
      const lane = pageLaneWith(s, [a, b], { itemsPerChild: 10, patches: { pageSlotSplit } });
      expect(s.cursor).toBe(14);
      lane.planSlots();
      return [a.slots, b.slots, lane.usedSlots];
    };
    // Split: a page holds at most 3 of 6 while more items could start; 2 slots stay for a new page.
    expect(plan(true)).toEqual([3, 1, 4]);
    expect(plan(false)).toEqual([5, 1, 6]);
  });

  it('gives nothing while paused', () => {
    const s = newState(30, { limits: { concurrency: 6 } });
    const a = inFlightPage(0, 10, 1);
    const lane = pageLaneWith(s, [a]);
    s.pause({ reason: 'paused by operator', sender: OPERATOR });
    lane.planSlots();
    expect([a.slots, lane.usedSlots]).toEqual([1, 1]);
  });

  it('a standby page gets slots once the cursor is at the end, all of them once it is the last', () => {
    const s = newState(20, { limits: { concurrency: 4 } });
    const a = inFlightPage(0, 10, 1, { done: '1111111110', unfinished: 1 });
    const standby = inFlightPage(10, 10, 0);
    const lane = pageLaneWith(s, [a, standby]);
    expect([s.walked, lane.hasStandby, lane.wantsTurn]).toEqual([true, true, true]);

    lane.planSlots();
    expect([a.slots, standby.slots, lane.hasStandby]).toEqual([1, 2, false]);

    lane.applyReport(a.childId, [outcome(9)], 0);
    expect(lane.wantsTurn).toBe(true);
    lane.planSlots();
    expect([standby.slots, lane.usedSlots]).toEqual([4, 4]);
  });
});

describe("applyReport: a page's report", () => {
  it('a report from a page not in flight changes nothing', () => {
    const s = newState(10);
    const lane = pageLaneWith(s, [inFlightPage(0, 5, 2)]);
    expect(lane.applyReport('b/page-5', [outcome(5)], 4)).toBe(false);
    expect(s.finishedCount).toBe(0);
  });

  it('records outcomes once each, keeps what the page said, and shrinks its slots to its unfinished items', () => {
    const s = newState(10, { limits: { concurrency: 4 } });
    const page = inFlightPage(0, 5, 4);
    const lane = pageLaneWith(s, [page]);
    expect(
      lane.applyReport(page.childId, [outcome(0), outcome(2, 'failed')], 3, undefined, { running: 2 }),
    ).toBe(true);
    expect(lane.applyReport(page.childId, [outcome(0), outcome(2, 'failed'), outcome(5)], 3)).toBe(true);
    expect(s.counts).toEqual({ succeeded: 1, failed: 1, skipped: 0, cancelled: 0 });
    expect(s.unwrittenOutcomes.map((o) => o.key)).toEqual([key(0), key(2)]);
    expect(page).toMatchObject({
      done: '10100',
      unfinished: 3,
      slots: 3,
      running: undefined,
      paused: undefined,
    });

    page.sent = { ...page.sent, paused: true }; // the pause it was told of
    lane.applyReport(page.childId, [outcome(1)], 1, undefined, { running: 1, paused: true });
    expect(page).toMatchObject({ done: '11100', unfinished: 1, slots: 1, running: 1, paused: true });
    // Paused: it runs only what it said it runs.
    expect(lane.running).toBe(1);

    lane.applyReport(page.childId, [outcome(3), outcome(4)], 0);
    expect(lane.inFlight.size).toBe(0);
    expect([lane.usedSlots, lane.idle, s.finishedCount]).toEqual([0, true, 5]);
  });

  it('a page whose items are all recorded leaves even if it still says some are unfinished', () => {
    const s = newState(2);
    const page = inFlightPage(0, 2, 2);
    const lane = pageLaneWith(s, [page]);
    lane.applyReport(page.childId, [outcome(0), outcome(1)], 1);
    expect(lane.idle).toBe(true);
  });

  it('a reclaim stays until the page acknowledges it', () => {
    const s = newState(10, { limits: { concurrency: 2, budget: 10 } });
    const page = inFlightPage(0, 5, 2, { allowance: 1, reclaim: { seq: 2, held: 4 }, reclaimed: 2 });
    const lane = pageLaneWith(s, [page]);
    // Until the page acknowledges, it may still commit what it held.
    expect(lane.reservedCost).toBe(4);
    lane.applyReport(page.childId, [], 5, { spent: 0, inflight: 1 }, { running: 1, ack: 1 });
    expect(page.reclaim).toEqual({ seq: 2, held: 4 });
    expect(lane.reservedCost).toBe(4);
    lane.applyReport(page.childId, [], 5, { spent: 0, inflight: 1 }, { running: 1, ack: 2 });
    expect(page.reclaim).toBeUndefined();
    expect([lane.committedCost, lane.reservedCost]).toEqual([1, 1]);
  });

  it('gives allowance back only when the page has nothing left to start', () => {
    const s = newState(10, { limits: { concurrency: 2, budget: 10 } });
    const page = inFlightPage(0, 5, 2, { allowance: 5 });
    const lane = pageLaneWith(s, [page]);
    // Items left to start (3 unfinished, 2 running), or a report that does not say what runs: kept.
    lane.applyReport(
      page.childId,
      [outcome(0, 'succeeded', { cost: 1 })],
      4,
      { spent: 1, inflight: 1 },
      {
        running: 2,
      },
    );
    expect(page.allowance).toBe(5);
    lane.applyReport(page.childId, [outcome(1, 'succeeded', { cost: 1 })], 2, { spent: 2, inflight: 1 });
    expect(page.allowance).toBe(5);
    lane.applyReport(page.childId, [], 2, { spent: 2, inflight: 1 }, { running: 2 });
    expect(page).toMatchObject({ spent: 2, pendingCost: 1, allowance: 3 });
    expect([lane.committedCost, lane.reservedCost]).toEqual([3, 3]);
  });

  it("any page's report lets a need that waited for others be considered again", () => {
    const s = newState(20, { limits: { concurrency: 4, budget: 10 } });
    const waiting = inFlightPage(0, 10, 2, { needWaits: true, need: { cost: 1, key: key(3) } });
    const other = inFlightPage(10, 10, 2);
    const lane = pageLaneWith(s, [waiting, other]);
    lane.applyReport(other.childId, [outcome(10)], 9);
    expect(waiting.needWaits).toBeUndefined();
  });
});

describe('takePageReport: who may report', () => {
  it('takes a report only from the page with its token, within its size', () => {
    const s = newState(10);
    const page = inFlightPage(0, 5, 2, { token: 't' });
    const lane = pageLaneWith(s, [page]);
    const report = { childId: page.childId, outcomes: [outcome(0)], unfinished: 4 };
    const ignored = { ignored: 'not sent by a page of this batch' };
    expect(lane.takePageReport({ ...report, token: 'forged' })).toEqual(ignored);
    expect(lane.takePageReport({ ...report, token: 't', unfinished: 6 })).toEqual(ignored);
    expect(lane.takePageReport({ ...report, childId: 'b/page-5', token: 't' })).toBe('stray');
    expect(s.finishedCount).toBe(0);
    expect(lane.takePageReport({ ...report, token: 't' })).toBe('applied');
    expect(s.counts.succeeded).toBe(1);
    expect(lane.takeItemReport(outcome(1), { childId: page.childId, token: 't' })).toBe('stray');
  });
});

describe('wantsTurn: something a page must be told', () => {
  /** One page, the last, holding every slot and told exactly what it has: nothing to say. */
  function settled(limits: { concurrency: number; budget?: number }, extra: Partial<InFlightPage> = {}) {
    const s = newState(8, { limits });
    const allowance = limits.budget !== undefined ? { costAllowance: extra.allowance ?? 0 } : {};
    const sent = { slots: limits.concurrency, paused: false, ...allowance };
    const page = inFlightPage(0, 8, limits.concurrency, { sent, ...extra });
    const lane = pageLaneWith(s, [page]);
    return { s, page, lane };
  }

  it('nothing while every page was told what it has', () => {
    expect(settled({ concurrency: 4 }).lane.wantsTurn).toBe(false);
  });

  it('new slots to give', () => {
    const { s, lane } = settled({ concurrency: 4 });
    s.setLimits({ concurrency: 6 }, UPDATE);
    expect(lane.wantsTurn).toBe(true);
  });

  it('fewer slots, while the page could still use them', () => {
    const { s, lane } = settled({ concurrency: 4 });
    s.setLimits({ concurrency: 2 }, UPDATE);
    lane.planSlots();
    expect(lane.wantsTurn).toBe(true);
  });

  it('a pause, the ending, or a new rate to send', () => {
    const paused = settled({ concurrency: 4 });
    paused.s.pause({ reason: 'paused by operator', sender: OPERATOR });
    expect(paused.lane.wantsTurn).toBe(true);

    const ending = settled({ concurrency: 4 });
    ending.s.beginEnding('cancelling', 'cancellation requested');
    expect(ending.lane.wantsTurn).toBe(true);

    const rate = settled({ concurrency: 4 });
    rate.s.setLimits({ rate: 2 }, UPDATE);
    expect(rate.lane.wantsTurn).toBe(true);
  });

  it('a need for budget, unless it waits for other pages, or the batch is paused', () => {
    const need = {
      need: { cost: 1, key: key(3) },
      allowance: 2,
      sent: { slots: 4, paused: false, costAllowance: 2 },
    };
    expect(settled({ concurrency: 4, budget: 10 }).lane.wantsTurn).toBe(false);
    expect(settled({ concurrency: 4, budget: 10 }, need).lane.wantsTurn).toBe(true);
    expect(settled({ concurrency: 4, budget: 10 }, { ...need, needWaits: true }).lane.wantsTurn).toBe(false);

    const paused = settled({ concurrency: 4, budget: 10 }, { ...need, sent: { ...need.sent, paused: true } });
    paused.s.pause({ reason: 'paused by operator', sender: OPERATOR });
    expect(paused.lane.wantsTurn).toBe(false);
  });

  it('never in the item lane: it tells its children nothing', () => {
    const s = newState(8, { limits: { concurrency: 4, rate: 1 } });
    const lane = itemLaneWith(s, 0, 1);
    s.pause({ reason: 'paused by operator', sender: OPERATOR });
    expect(lane.wantsTurn).toBe(false);
  });
});

describe('planSlots with a budget: the grant round', () => {
  it('grants a need at least its cost and a share of what is left', () => {
    const s = newState(20, { limits: { concurrency: 4, budget: 10 } });
    const page = inFlightPage(0, 10, 2, { allowance: 2, pendingCost: 2, need: { cost: 1, key: key(3) } });
    const lane = pageLaneWith(s, [page, inFlightPage(10, 10, 2)]);
    lane.planSlots();
    // headroom 10 − 2 = 8; its share: 8 × 2 of 4 slots = 4, more than the 1 it needs
    expect(page).toMatchObject({ allowance: 6 });
    expect(page.need).toBeUndefined(); // granted: the need is gone from what the page carries
    expect(s.paused).toBe(false);
  });

  it('pauses before the item when nothing can cover it', () => {
    const s = newState(20, { limits: { concurrency: 4, budget: 2.5 } });
    const page = inFlightPage(0, 10, 2, { allowance: 2, pendingCost: 2, need: { cost: 1, key: key(3) } });
    const lane = pageLaneWith(s, [page]);
    lane.planSlots();
    expect(s.paused).toBe(true);
    expect(s.pauseReason).toBe(
      'budget 2.5 reached: spent 0, in flight 2, next item K0004 would cost 1; ' +
        'raise it with `durabatch set b --budget N` and resume',
    );
    expect(page.allowance).toBe(2);
  });

  it('waits for pages that can still use their allowance; takes it back from pages that cannot', () => {
    const s = newState(20, { limits: { concurrency: 4, budget: 10 } });
    const a = inFlightPage(0, 10, 2, { allowance: 4, pendingCost: 4, need: { cost: 2, key: key(4) } });
    const b = inFlightPage(10, 10, 2, { allowance: 5, pendingCost: 1 });
    const lane = pageLaneWith(s, [a, b]);
    a.sent = { slots: 2, paused: false, costAllowance: 4 };
    b.sent = { slots: 2, paused: false, costAllowance: 5 };
    // reserved 4 + 1 + (5 − 1) = 9: 1 left, a needs 2 more; b holds 4 it may still commit.
    lane.planSlots();
    expect([a.needWaits, a.allowance, b.reclaim, s.paused]).toEqual([true, 4, undefined, false]);
    expect(lane.wantsTurn).toBe(false);

    // b now waits for budget too: what it holds is taken back (it acknowledges with its next report).
    lane.applyReport(b.childId, [], 10, { spent: 0, inflight: 1, need: 5, needKey: key(14) }, { running: 1 });
    expect(a.needWaits).toBeUndefined();
    lane.planSlots();
    expect([a.needWaits, b.reclaim, b.reclaimed, b.allowance]).toEqual([true, { seq: 1, held: 5 }, 1, 1]);
    expect(lane.reservedCost).toBe(9);
    expect(lane.wantsTurn).toBe(true);

    lane.applyReport(
      b.childId,
      [],
      10,
      { spent: 0, inflight: 1, need: 5, needKey: key(14) },
      { running: 1, ack: 1 },
    );
    lane.planSlots();
    // reserved 4 + 1 = 5: a gets its share of the 5 left (2.5, more than the 2 it needs)
    expect([a.allowance, a.need, b.reclaim, s.paused]).toEqual([6.5, undefined, undefined, false]);
  });
});

describe('pauseUnacknowledged: pages that may still start items while paused', () => {
  const paused = () => {
    const s = newState(30, { limits: { concurrency: 4 } });
    const [a, b, c] = [inFlightPage(0, 10, 2), inFlightPage(10, 10, 2), inFlightPage(20, 10, 0)];
    const lane = pageLaneWith(s, [a, b, c]);
    s.pause({ reason: 'paused by operator', sender: OPERATOR });
    for (const p of [a, b, c]) p.sent = { ...p.sent, paused: true }; // as the loop's rebalance sends it
    return { s, lane, a, b, c };
  };

  it('none while running; every page until its report says paused; none once all have', () => {
    const running = pageLaneWith(newState(30, { limits: { concurrency: 4 } }), [inFlightPage(0, 10, 2)]);
    expect(running.pauseUnacknowledged()).toEqual([]);

    const { s, lane, a, b, c } = paused();
    expect(lane.pauseUnacknowledged()).toEqual([a.childId, b.childId, c.childId]);
    // A report sent before the page saw the pause (paused: false) acknowledges nothing.
    lane.applyReport(a.childId, [outcome(0)], 9, undefined, { running: 2, paused: false });
    lane.applyReport(b.childId, [], 10, undefined, { running: 2, paused: true });
    expect(lane.pauseUnacknowledged()).toEqual([a.childId, c.childId]);
    lane.applyReport(a.childId, [], 9, undefined, { running: 2, paused: true });
    lane.applyReport(c.childId, [], 10, undefined, { running: 0, paused: true });
    expect(lane.pauseUnacknowledged()).toEqual([]);
    expect(progressOf(s, lane.running, '/out', null, lane.pauseUnacknowledged())).toMatchObject({
      status: 'paused',
      pauseAcknowledged: true,
    });
  });

  it('a page that reports paused after a resume was sent to it is not counted as paused', () => {
    const { lane, a } = paused();
    a.sent = { ...a.sent, paused: false }; // resumed: the page will start items once it sees it
    lane.applyReport(a.childId, [], 10, undefined, { running: 0, paused: true });
    expect(a.paused).toBe(false);
  });

  it('the status names the pages that have not acknowledged, only while paused', () => {
    const { s, lane, b, c } = paused();
    lane.applyReport(b.childId, [], 10, undefined, { running: 2, paused: true });
    const p = progressOf(s, lane.running, '/out', null, lane.pauseUnacknowledged());
    expect(p).toMatchObject({
      status: 'paused',
      pauseAcknowledged: false,
      pauseUnacknowledgedBy: [`${s.batchId}/page-0`, c.childId],
    });
    s.resume(UPDATE);
    const resumed = progressOf(s, lane.running, '/out', null, lane.pauseUnacknowledged());
    expect(resumed.status).toBe('running');
    expect(resumed).not.toHaveProperty('pauseAcknowledged');
    expect(resumed).not.toHaveProperty('pauseUnacknowledgedBy');
  });
});

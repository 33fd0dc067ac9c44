// Pause acknowledged = no new start, and cancelling one running item within 2 s, in every mode:
// per item, page, and page + local (whose local activities keep the page's workflow task open, so
// it sees messages only at its workflow-task heartbeat; workflows/lanes/local-task-timeout.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema';
import {
  allSucceeded,
  batchEnd,
  controlRows,
  key,
  liveProgress,
  readItems,
  waitFor,
} from '../helpers/engine';
import { engineHarness, type EngineHarness } from '../helpers/harness';

const MODES: [string, ConfigInput][] = [
  ['per item', {}],
  ['per item + local', { itemExecution: 'local' }],
  ['page', { itemsPerChild: 4 }],
  ['page + local', { itemsPerChild: 4, itemExecution: 'local' }],
];

describe('pause acknowledgement and cancel latency', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('pause-ack');
  });
  afterAll(async () => {
    await h?.close();
  });

  describe.each(MODES)('%s', (mode, overrides) => {
    const name = mode.replace(/\W+/g, '-');

    it('after pause is acknowledged no request reaches the target; resume completes every item once', async () => {
      // Items of 3 s in waves of 4: paused mid-wave, no start is due until the wave ends, and the
      // wave ends within the watch below, freeing every slot.
      const b = await h.start(
        `ack-${name}`,
        controlRows(12, () => ({ delayMs: 3_000 })),
        {
          concurrency: 4,
          ...overrides,
        },
      );
      await waitFor('the first wave at the target', () => b.target.stats().inFlight === 4);
      await sleep(300);
      const ack = await h.ctx.batches.pause(b.batchId, 'ack test');
      expect(ack).toMatchObject({ acknowledged: true, status: 'paused', waitingFor: [] });
      const requestsAtAck = b.target.stats().requests;
      expect(requestsAtAck).toBe(4);
      const p = await liveProgress(b.handle);
      expect(p).toMatchObject({ status: 'paused', pauseAcknowledged: true });
      expect(p.pauseUnacknowledgedBy).toBeUndefined();
      // The wave ends within 3 s of the ack; its freed slots start nothing.
      await waitFor('the first wave done', () => b.target.stats().inFlight === 0, 5_000);
      const quietFrom = Date.now();
      await sleep(2_000);
      expect(b.target.stats().requests).toBe(requestsAtAck);
      expect(Date.now() - quietFrom).toBeGreaterThanOrEqual(2_000);
      // A page reports its outcomes within 2 s: the counts settle at the wave, and stay there.
      const settled = await waitFor('the wave counted', async () => {
        const now = await liveProgress(b.handle);
        return now.succeeded === 4 ? now : undefined;
      });
      expect(settled).toMatchObject({ status: 'paused', succeeded: 4, running: 0, pending: 8 });
      expect(b.target.stats().requests).toBe(requestsAtAck);

      await h.ctx.batches.resume(b.batchId);
      expect(await batchEnd(b.handle)).toMatchObject({ kind: 'returned', progress: allSucceeded(12) });
      expect(b.target.stats()).toMatchObject({ requests: 12, effects: 12 });
    });

    it('cancelling a running item aborts its request within 2 s; the rest complete', async () => {
      const b = await h.start(
        `cancel-${name}`,
        controlRows(8, (i) => ({ delayMs: i === 0 ? 60_000 : 300 })),
        { concurrency: 2, ...overrides },
      );
      // K0001 and K0002 start first; K0001's request then stays at the target for a minute.
      await waitFor('K0001 at the target', () => b.target.stats().inFlight >= 1);
      await sleep(500);
      const asked = Date.now();
      expect(await h.ctx.batches.cancelItem(b.batchId, key(0))).toEqual({
        key: key(0),
        action: 'cancelling',
      });
      await waitFor('K0001 aborted', () => b.target.stats().abandoned === 1, 10_000, 10);
      expect(b.target.stats().lastAbandonedAt! - asked).toBeLessThan(2_000);

      const end = await batchEnd(b.handle);
      expect(end).toMatchObject({
        kind: 'returned',
        progress: { status: 'completed', total: 8, succeeded: 7, cancelled: 1, failed: 0, skipped: 0 },
      });
      const items = await readItems(b.outputDir);
      expect(items.find((i) => i.key === key(0))).toMatchObject({
        status: 'cancelled',
        errorType: 'Cancelled',
      });
      expect(b.target.stats()).toMatchObject({ requests: 8, effects: 7, abandoned: 1 });
    });
  });

  it('page mode paused as it starts: every page acknowledges; nothing starts after', async () => {
    // Paused at once: pages still starting, or reading their items, acknowledge like running ones.
    const b = await h.start(
      'ack-at-start',
      controlRows(40, () => ({ delayMs: 500 })),
      { concurrency: 8, itemsPerChild: 5 },
    );
    const ack = await h.ctx.batches.pause(b.batchId, 'at start');
    expect(ack).toMatchObject({ acknowledged: true, status: 'paused', waitingFor: [] });
    const requestsAtAck = b.target.stats().requests;
    await sleep(2_500);
    expect(b.target.stats().requests).toBe(requestsAtAck);
    await h.ctx.batches.resume(b.batchId);
    expect(await batchEnd(b.handle)).toMatchObject({ kind: 'returned', progress: allSucceeded(40) });
    expect(b.target.stats()).toMatchObject({ requests: 40, effects: 40 });
  });

  it('replays every history of the batches above without nondeterminism', async () => {
    const [replayed, listed] = await h.replayAll();
    expect(replayed).toBe(listed);
    expect(listed).toBeGreaterThan(8);
  });
});

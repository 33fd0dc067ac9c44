// The one heartbeat loop of an item step (activities/heartbeats.ts): it starts from an earlier
// attempt's details, sends what a processor records at once, and repeats the latest until stopped.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startHeartbeats } from '../../activities/heartbeats';

describe('startHeartbeats', () => {
  it("repeats an earlier attempt's details while the processor is silent", async () => {
    const sent: unknown[] = [];
    const beats = startHeartbeats((d) => sent.push(d), { page: 3 }, 20);
    await sleep(70);
    beats.stop();
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sent.map((d) => JSON.stringify(d)))).toEqual(new Set(['{"page":3}']));
  });

  it('sends recorded details at once, then repeats the latest; nothing after stop', async () => {
    const sent: unknown[] = [];
    const beats = startHeartbeats((d) => sent.push(d), undefined, 20);
    beats.record({ done: 1 });
    beats.record({ done: 2 });
    expect(sent).toEqual([{ done: 1 }, { done: 2 }]);
    await sleep(70);
    beats.stop();
    const stoppedAt = sent.length;
    expect(stoppedAt).toBeGreaterThanOrEqual(4);
    expect(sent.slice(2)).toEqual(Array.from({ length: stoppedAt - 2 }, () => ({ done: 2 })));
    await sleep(50);
    expect(sent.length).toBe(stoppedAt);
  });
});

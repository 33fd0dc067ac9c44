// The heartbeat loops of activities/heartbeats.ts. An item step's starts from an earlier attempt's
// details, sends what a processor records at once, and repeats the latest until stopped. The batch's
// own activities heartbeat only while they run, so a dead worker is noticed within seconds.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startHeartbeats, whileAlive } from '../../activities/heartbeats';

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

describe('whileAlive', () => {
  it('sends nothing for work that ends within the interval', async () => {
    let beats = 0;
    await expect(
      whileAlive(
        () => (beats += 1),
        () => Promise.resolve('page'),
        50,
      ),
    ).resolves.toBe('page');
    await sleep(120);
    expect(beats).toBe(0);
  });

  it('heartbeats while long work runs, and stops when it fails', async () => {
    let beats = 0;
    const work = async () => {
      await sleep(110);
      throw new Error('disk full');
    };
    await expect(whileAlive(() => (beats += 1), work, 20)).rejects.toThrow('disk full');
    const atEnd = beats;
    expect(atEnd).toBeGreaterThanOrEqual(3);
    await sleep(60);
    expect(beats).toBe(atEnd);
  });
});

// The client's side of the query guard (src/client/query-refused.ts): a refused query is asked
// again until answered, other errors pass at once, and it gives up after its time.
import { describe, expect, it } from 'vitest';
import { askAgainIfRefused } from '../../src/client/query-refused';
import { QUERY_REFUSED_UNTASKED } from '../../workflows/query-tail-guard';

const refusal = () => new Error(`${QUERY_REFUSED_UNTASKED}; it was dropped from the cache (ask again)`);

describe('askAgainIfRefused', () => {
  it('asks again while the guard refuses, and returns the answer', async () => {
    let calls = 0;
    const answer = await askAgainIfRefused(
      () => (++calls < 3 ? Promise.reject(refusal()) : Promise.resolve('running')),
      5_000,
      10,
    );
    expect([answer, calls]).toEqual(['running', 3]);
  });

  it('passes any other error at once', async () => {
    let calls = 0;
    const failing = () => {
      calls += 1;
      return Promise.reject(new Error('workflow not found'));
    };
    await expect(askAgainIfRefused(failing, 5_000, 10)).rejects.toThrow('workflow not found');
    expect(calls).toBe(1);
  });

  it('gives up with the refusal after its time', async () => {
    let calls = 0;
    const refused = () => {
      calls += 1;
      return Promise.reject(refusal());
    };
    await expect(askAgainIfRefused(refused, 60, 10)).rejects.toThrow(QUERY_REFUSED_UNTASKED);
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});

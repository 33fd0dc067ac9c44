// The two duration styles every command and report prints: the same value reads the same everywhere.
import { describe, expect, it } from 'vitest';
import { compactDuration, spacedDuration } from '../../src/util/durations';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

describe('durations', () => {
  it.each([
    [0, '0s', '0s'],
    [499, '0s', '0s'],
    [42 * S, '42s', '42s'],
    [59.6 * S, '1m00s', '1m 00s'],
    [3 * M + 5 * S, '3m05s', '3m 05s'],
    [59 * M + 59 * S, '59m59s', '59m 59s'],
    [2 * H + 5 * M + 20 * S, '2h05m', '2h 05m'],
    [47 * H + 59 * M, '47h59m', '47h 59m'],
    [3 * 24 * H + 4 * H, '3d04h', '76h 00m'],
  ])('%i ms: compact %s, spaced %s', (ms, compact, spaced) => {
    expect(compactDuration(ms)).toBe(compact);
    expect(spacedDuration(ms)).toBe(spaced);
  });
});

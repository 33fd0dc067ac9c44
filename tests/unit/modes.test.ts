// The execution-mode rules: what `--items-per-child auto` picks, and the per-mode duration estimate
// `plan` prints (the tightest of concurrency waves, rate and the machine's CPU).
import { describe, expect, it } from 'vitest';
import { Config } from '../../src/config/schema';
import {
  autoItemsPerChild,
  estimateModeSeconds,
  fasterMode,
  MODE_CPU_MS,
  MODES,
  modeOf,
} from '../../src/client/modes';
import { keysWithin } from '../../workflows/page';

describe('execution modes', () => {
  it('auto keeps one child per item up to 1,000 items, pages of 100 above', () => {
    expect(autoItemsPerChild(1)).toBe(1);
    expect(autoItemsPerChild(1_000)).toBe(1);
    expect(autoItemsPerChild(1_001)).toBe(100);
    expect(autoItemsPerChild(1_000_000)).toBe(100);
  });

  it('auto in runner mode: pages of 1,000 whatever the size (a runner never runs one item per child)', () => {
    expect(autoItemsPerChild(10, 'runner')).toBe(1_000);
    expect(autoItemsPerChild(1_000_000, 'runner')).toBe(1_000);
  });

  it('names the mode of a setting pair', () => {
    expect(modeOf(1, 'activity')).toBe('per-item');
    expect(modeOf(1, 'local')).toBe('per-item');
    expect(modeOf(100, 'activity')).toBe('page');
    expect(modeOf(100, 'local')).toBe('page-local');
    expect(modeOf(1_000, 'runner')).toBe('runner');
  });

  it('estimates the tightest limit: waves of concurrency, the rate, or CPU per item on 2 cores', () => {
    // 1,000 items of 1 s at concurrency 10: 100 waves = 100 s, far above CPU (1,000 × 55 ms / 2 = 28 s).
    expect(estimateModeSeconds('per-item', 1_000, 10, 1_000)).toBe(100);
    // Instant items at concurrency 100: CPU bound.
    expect(estimateModeSeconds('per-item', 10_000, 100, 0)).toBe((10_000 * MODE_CPU_MS['per-item']) / 2_000);
    expect(estimateModeSeconds('page', 10_000, 100, 0)).toBe(Math.ceil((10_000 * MODE_CPU_MS.page) / 2_000));
    // A rate of 5/s over 100 items: 20 s.
    expect(estimateModeSeconds('page-local', 100, 50, 10, 5)).toBe(20);
  });

  it('accepts auto or 1..1000 items per child, and refuses settings that cannot work together', () => {
    expect(Config.parse({ itemsPerChild: 'auto' }).itemsPerChild).toBe('auto');
    expect(Config.parse({ itemsPerChild: '50' }).itemsPerChild).toBe(50);
    expect(Config.safeParse({ itemsPerChild: 0 }).success).toBe(false);
    expect(Config.parse({ itemsPerChild: 100, budget: 10 })).toMatchObject({
      itemsPerChild: 100,
      budget: 10,
    });
    const local = Config.safeParse({
      itemExecution: 'local',
      itemsPerChild: 100,
      http: { timeoutMs: 900_000 },
    });
    expect(local.error?.issues[0]?.message).toContain('local items are for short calls');
    expect(Config.parse({ itemExecution: 'local', itemsPerChild: 1 }).itemExecution).toBe('local');
    // Runner mode needs pages, and says which setting to change.
    const runnerPerItem = Config.safeParse({ itemExecution: 'runner' });
    expect(runnerPerItem.error?.issues[0]).toMatchObject({ path: ['itemsPerChild'] });
    expect(runnerPerItem.error?.issues[0]?.message).toContain('set itemsPerChild to auto');
    expect(Config.parse({ itemExecution: 'runner', itemsPerChild: 'auto' }).itemExecution).toBe('runner');
  });
});

describe('the mode plan suggests', () => {
  const estimates = (items: number, latencyMs: number) =>
    MODES.map((m) => ({ ...m, seconds: estimateModeSeconds(m.name, items, 100, latencyMs) }));

  it('names runner for a large CPU-bound batch in per-item or page mode', () => {
    // 100,000 instant items: per item 45 ms of CPU each on 2 cores, runner 1.8.
    expect(fasterMode(estimates(100_000, 0), 'per-item', 100_000)?.name).toBe('runner');
    expect(fasterMode(estimates(100_000, 0), 'page', 100_000)?.name).toBe('runner');
    expect(fasterMode(estimates(100_000, 0), 'runner', 100_000)).toBeUndefined();
  });

  it('names nothing when the target is the limit (every mode waits the same) or the batch is small', () => {
    // 1 s calls at concurrency 100: 1,000 waves whatever the mode, CPU far below.
    expect(fasterMode(estimates(100_000, 1_000), 'page', 100_000)).toBeUndefined();
    expect(fasterMode(estimates(500, 0), 'per-item', 500)).toBeUndefined();
  });
});

describe('ItemKeys of a page', () => {
  it('keeps the first keys whose JSON list stays within the byte limit, counting UTF-8', () => {
    expect(keysWithin(['a', 'b', 'c'], 100)).toEqual(['a', 'b', 'c']);
    // ["aaaa","bbbb"] is 15 bytes; a third 4-letter key would make 22.
    expect(keysWithin(['aaaa', 'bbbb', 'cccc'], 16)).toEqual(['aaaa', 'bbbb']);
    // 'é' is 2 bytes and '😀' 4 in UTF-8.
    expect(keysWithin(['é', '😀'], 2 + 4 + 1 + 6)).toEqual(['é']);
    expect(keysWithin(['é', '😀'], 2 + 4 + 1 + 7)).toEqual(['é', '😀']);
  });
});

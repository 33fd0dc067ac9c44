// The limits a new batch's settings accept (the config schema) and those a running batch's setLimits
// accepts (validateLimits, in the workflow) come from one set of bounds: the two agree on each edge.
import { describe, expect, it } from 'vitest';
import { Config } from '../../src/config/schema';
import { MAX_CONCURRENCY, MAX_RATE } from '../../workflows/limits';
import { validateLimits } from '../../workflows/messages';

const cases = {
  concurrency: [0, 1, 2.5, MAX_CONCURRENCY, MAX_CONCURRENCY + 1],
  rate: [-1, 0, 0.5, MAX_RATE, MAX_RATE + 1],
  budget: [-1, 0, 0.01, 1e9],
} as const;

describe('limit bounds', () => {
  for (const [field, values] of Object.entries(cases) as [keyof typeof cases, readonly number[]][]) {
    it.each(values)(`${field} %d: the config schema and setLimits agree`, (value) => {
      const bySchema = Config.shape[field].safeParse(value).success;
      const bySetLimits = validateLimits({ [field]: value }) === undefined;
      expect(bySchema).toBe(bySetLimits);
    });
  }

  it('accepts the edges and refuses one past them', () => {
    expect(validateLimits({ concurrency: MAX_CONCURRENCY, rate: MAX_RATE })).toBeUndefined();
    expect(Config.shape.concurrency.safeParse(MAX_CONCURRENCY + 1).success).toBe(false);
    expect(Config.shape.rate.safeParse(MAX_RATE + 1).success).toBe(false);
  });
});

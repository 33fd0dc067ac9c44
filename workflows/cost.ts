// Item costs: what the processor reported, else the item's cost field, else the per-item constant.
// The parent uses the expected cost to keep a batch within its budget before starting an item.
import type { StatsState } from './stats';
import type { CostPolicy, Item } from './types';

/**
 * A cost as a source or a target states it: a number, or a number's text (CSV cells, headers).
 * Undefined unless it is a finite number >= 0. `plan`, the engine and the http processor's
 * costFrom all read costs through this.
 */
export function costValue(raw: unknown): number | undefined {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function fieldCost(item: Item, policy: CostPolicy | undefined): number | undefined {
  return policy?.field ? costValue(item.data[policy.field]) : undefined;
}

/** The item's cost known before it runs: its cost field, else the per-item constant. */
export function knownCost(item: Item, policy: CostPolicy | undefined): number | undefined {
  return fieldCost(item, policy) ?? policy?.perItem;
}

/** Cost expected for an item before it runs (0 when nothing is known yet). */
export function expectedCost(item: Item, policy: CostPolicy | undefined, stats: StatsState): number {
  return expectedCostOr(item, policy, averageCost(stats));
}

/** The batch's average cost per finished item (0 before any finished). */
export function averageCost(stats: StatsState): number {
  return stats.finished > 0 ? stats.cost / stats.finished : 0;
}

/** The item's known cost (its field, else the per-item constant), else `average`. */
export function expectedCostOr(item: Item, policy: CostPolicy | undefined, average: number): number {
  // Only processors report costs otherwise: expect the average so far.
  return knownCost(item, policy) ?? average;
}

/** The cost recorded for a succeeded item. */
export function itemCost(
  item: Item,
  policy: CostPolicy | undefined,
  reported: number | undefined,
): number | undefined {
  return reported ?? knownCost(item, policy);
}

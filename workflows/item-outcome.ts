// What an item's outcome says once its steps ran, wherever they ran: the item or page workflow
// (workflows/item-run.ts) or the runner activity (activities/runner/). Pure, so both build the same.
import { itemCost } from './cost';
import type { CostPolicy, Item, ItemOutcome, StepResult, StepSpec } from './types';

/** Longest error message kept in an outcome. */
export const MAX_MESSAGE = 500;

/** Files listed in an item's outcome (the documents folder holds them all). */
const MAX_OUTCOME_FILES = 20;

const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The worker variables the steps refer to as `${env:NAME}`, by name (the values stay on the worker). */
export function envRefsOf(steps: readonly StepSpec[]): string[] {
  const names = new Set<string>();
  for (const step of steps) {
    for (const match of JSON.stringify(step.processor).matchAll(ENV_REF)) names.add(match[1]!);
  }
  return [...names];
}

/** The outcome of an item whose steps all succeeded, from their results in order. */
export function succeededFields(
  item: Item,
  cost: CostPolicy | undefined,
  all: StepResult[],
): Omit<ItemOutcome, 'index' | 'key' | 'latencyMs' | 'startedAt' | 'endedAt'> {
  const last = all.at(-1);
  // Outcomes travel in signals and pages of results: the list is bounded, its length is not lost.
  const files = [...new Set(all.flatMap((r) => r.files ?? []))];
  const costs = all.map((r) => r.cost).filter((c): c is number => c !== undefined);
  return {
    status: 'succeeded',
    attempts: Math.max(...all.map((r) => r.attempt)),
    httpStatus: last?.httpStatus,
    cost: itemCost(item, cost, costs.length > 0 ? costs.reduce((a, b) => a + b, 0) : undefined),
    output: last?.output,
    ...(files.length > 0 ? { files: files.slice(0, MAX_OUTCOME_FILES) } : {}),
    ...(files.length > MAX_OUTCOME_FILES ? { filesTotal: files.length } : {}),
    steps:
      all.length > 1
        ? all.map((r) => ({ name: r.name, attempts: r.attempt, latencyMs: r.latencyMs }))
        : undefined,
  };
}

// How a batch's items map onto child workflows, and which way suits a batch: estimated durations per
// mode from the costs measured in docs/performance.md, and the rule `--items-per-child auto` applies.

export type ItemExecution = 'activity' | 'local' | 'runner';

export interface ModeChoice {
  name: 'per-item' | 'page' | 'page-local' | 'runner';
  itemsPerChild: number;
  itemExecution: ItemExecution;
}

/**
 * CPU (Temporal server + worker) per item on the 2-core reference machine, measured with a
 * zero-latency target (bench/peers.ts, docs/performance.md). The machine's two cores bound the
 * throughput at about 2000 / cpuMsPerItem items per second, whatever the concurrency.
 */
export const MODE_CPU_MS: Record<ModeChoice['name'], number> = {
  'per-item': 45,
  page: 5,
  'page-local': 4,
  // 1.8 at 2,000 items (bench/peers.ts), 1.3 at 1,000,000 (bench/scale.ts): docs/performance.md.
  runner: 1.8,
};

/** Page size `auto` uses for large batches. */
export const AUTO_PAGE_SIZE = 100;
/**
 * Page size of runner mode with `auto`: a page's fixed cost (its child, its runner, a query every
 * 250 ms) spread over as many items as a page may hold.
 */
export const RUNNER_PAGE_SIZE = 1_000;
/** Up to this many items, `auto` keeps one child per item: every item visible in the Web UI. */
export const AUTO_PER_ITEM_MAX = 1_000;

export const MODES: ModeChoice[] = [
  { name: 'per-item', itemsPerChild: 1, itemExecution: 'activity' },
  { name: 'page', itemsPerChild: AUTO_PAGE_SIZE, itemExecution: 'activity' },
  { name: 'page-local', itemsPerChild: AUTO_PAGE_SIZE, itemExecution: 'local' },
  { name: 'runner', itemsPerChild: RUNNER_PAGE_SIZE, itemExecution: 'runner' },
];

/** Waves of `concurrency` items each taking `latencyMs`, the rate, or the machine's CPU: the tightest. */
export function estimateModeSeconds(
  mode: ModeChoice['name'],
  items: number,
  concurrency: number,
  latencyMs: number,
  rate?: number,
  cores = 2,
): number {
  const byConcurrency = (Math.ceil(items / concurrency) * latencyMs) / 1000;
  const byRate = rate ? items / rate : 0;
  const byCpu = (items * MODE_CPU_MS[mode]) / (cores * 1000);
  return Math.ceil(Math.max(byConcurrency, byRate, byCpu));
}

/**
 * `--items-per-child auto`: one child per item up to AUTO_PER_ITEM_MAX items (every item visible in
 * the Web UI), pages of AUTO_PAGE_SIZE above, with items as activities (heartbeats, cancellable one
 * by one). Local items are never chosen automatically: they trade cancellation and heartbeats for
 * speed, which only the user can judge.
 */
export function autoItemsPerChild(items: number, itemExecution: ItemExecution = 'activity'): number {
  // Runner mode always runs pages: its items are never children of their own.
  if (itemExecution === 'runner') return RUNNER_PAGE_SIZE;
  return items <= AUTO_PER_ITEM_MAX ? 1 : AUTO_PAGE_SIZE;
}

/** The mode a resolved itemsPerChild / itemExecution pair is. */
export function modeOf(itemsPerChild: number, itemExecution: ItemExecution): ModeChoice['name'] {
  if (itemExecution === 'runner') return 'runner';
  if (itemsPerChild === 1) return 'per-item';
  return itemExecution === 'local' ? 'page-local' : 'page';
}

/** How much faster another mode must be estimated before `plan` names it: a clear gain, not noise. */
const SUGGEST_BELOW = 2 / 3;

/**
 * The mode `plan` suggests instead of the chosen one: the fastest estimate when it takes at most two
 * thirds of the chosen mode's time, for batches above AUTO_PER_ITEM_MAX items (smaller ones keep one
 * child per item, every item visible in the Web UI). Undefined when the chosen mode is as good.
 */
export function fasterMode<M extends { name: ModeChoice['name']; seconds: number }>(
  modes: readonly M[],
  chosen: ModeChoice['name'],
  items: number,
): M | undefined {
  if (items <= AUTO_PER_ITEM_MAX) return undefined;
  const current = modes.find((m) => m.name === chosen);
  const fastest = [...modes].sort((a, b) => a.seconds - b.seconds)[0];
  if (!current || !fastest || fastest.name === chosen) return undefined;
  return fastest.seconds <= current.seconds * SUGGEST_BELOW ? fastest : undefined;
}

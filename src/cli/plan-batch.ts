// What `durabatch plan` does: stage and check every item as `start` would, estimate each mode's
// duration and the cost, and print the plan. Starts nothing; imported when the command runs.
import path from 'node:path';
import { knownCost } from '../../workflows/cost';
import type { Item } from '../../workflows/types';
import { checkModulesLoad } from '../processor-modules/load';
import {
  AUTO_PAGE_SIZE,
  autoItemsPerChild,
  estimateModeSeconds,
  fasterMode,
  MODES,
  modeOf,
} from '../client/modes';
import { describeSteps, stepsFromConfig } from '../client/steps';
import { InputError } from '../errors';
import type { Config } from '../config/schema';
import { stageOptionsFromConfig } from '../config/stage-options';
import { stageSource } from '../source/stage';
import { resolveBatchConfig, type BatchFlags } from './batch-options';
import { parseDuration } from './flag-values';
import { enableTypeScriptModules } from './typescript-modules';
import { checkTlsFiles } from './tls-files';
import { spacedDuration } from '../util/durations';
import { jsonLines } from '../util/json-lines';

export interface PlanFlags extends BatchFlags {
  estimateLatency: string;
  json?: boolean;
}

export interface PlanCost {
  /** Expected cost of the items that would run; null when no cost is configured. */
  total: number | null;
  perItem: number | null;
  field: string | null;
  budget: number | null;
  /** Items whose cost is unknown (no numeric cost field and no per-item cost). */
  unknownItems: number;
}

async function estimateCost(stagedDir: string, config: Config, runnable: number): Promise<PlanCost> {
  const { costPerItem: perItem, costField: field, budget } = config;
  const base = { perItem: perItem ?? null, field: field ?? null, budget: budget ?? null };
  if (!field) return { ...base, total: perItem === undefined ? null : perItem * runnable, unknownItems: 0 };
  // A cost field is per item: one streamed pass over the staged items sums it, read as the engine
  // reads it before starting an item.
  let total = 0;
  let unknownItems = 0;
  for await (const item of jsonLines<Item>(path.join(stagedDir, 'items.jsonl'))) {
    if (item.invalid !== undefined) continue;
    const cost = knownCost(item, { perItem, field });
    if (cost === undefined) unknownItems += 1;
    else total += cost;
  }
  return { ...base, total: Math.round(total * 1e6) / 1e6, unknownItems };
}

/** The mode these settings run in (resolving `auto` for this many items), and every mode's estimate. */
function modePlan(config: Config, runnable: number, latencyMs: number) {
  const itemsPerChild =
    config.itemsPerChild === 'auto'
      ? autoItemsPerChild(runnable, config.itemExecution)
      : config.itemsPerChild;
  const chosen = modeOf(itemsPerChild, config.itemExecution);
  const modes = MODES.map((m) => ({
    ...m,
    ...(m.name === chosen ? { itemsPerChild } : {}),
    seconds: estimateModeSeconds(m.name, runnable, config.concurrency, latencyMs, config.rate),
  }));
  return {
    chosen: {
      name: chosen,
      itemsPerChild,
      itemExecution: config.itemExecution,
      why: config.itemsPerChild === 'auto' ? 'auto' : 'settings',
    },
    modes,
  };
}

/** `line 12: field "age": ...` → 12 (null for directory items, named by file). */
const lineOf = (problem: string) => {
  const m = /^line (\d+)\b/.exec(problem);
  return m ? Number(m[1]) : null;
};

/**
 * The plan of a batch: every item staged and checked as `start` would, each mode's estimated
 * duration and the cost. Starts nothing; what `plan --json` prints and the service's
 * POST /v1/batches/plan answers.
 */
export async function planOf(source: string, config: Config, latencyMs: number) {
  // A processor problem does not hide the item check: both are reported, then exit code 2.
  let processor: string | null = null;
  let refusal: string | null = null;
  try {
    const steps = stepsFromConfig(config);
    processor = describeSteps(steps);
    // A module that cannot be imported would fail every item: say so now, naming it.
    await enableTypeScriptModules();
    await checkModulesLoad(steps);
    // Certificate files a worker would fail every item on (checked on this machine).
    await checkTlsFiles(steps);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    refusal = err.message;
  }
  const staged = await stageSource(source, stageOptionsFromConfig(config, path.resolve(config.home)));
  const runnable = staged.total - staged.invalid;
  const mode = modePlan(config, runnable, latencyMs);
  const seconds = mode.modes.find((m) => m.name === mode.chosen.name)!.seconds;
  const cost = await estimateCost(staged.dir, config, runnable);
  const plan = {
    source: staged.originalPath,
    format: staged.format,
    total: staged.total,
    valid: runnable,
    invalid: staged.invalid,
    invalidRows: staged.problems.map((reason) => ({ line: lineOf(reason), reason })),
    warnings: staged.warnings,
    /** Set when --rows/--keys/--where/--limit chose the items: which, and of how many rows. */
    selection: staged.selection ?? null,
    processor,
    /** Why these settings would not work (`start` refuses them, or every item would fail); null when they would. */
    refusal,
    concurrency: config.concurrency,
    rate: config.rate ?? null,
    maxAttempts: config.maxAttempts,
    estimate: { latencyMs, latencySource: 'assumed', seconds },
    mode: mode.chosen,
    modes: mode.modes,
    /** A mode estimated to take at most two thirds of the chosen one's time (large batches), or null. */
    suggestion: fasterMode(mode.modes, mode.chosen.name, runnable) ?? null,
    cost,
    staged: { dir: staged.dir, fingerprint: staged.fingerprint },
  };
  return plan;
}

export type Plan = Awaited<ReturnType<typeof planOf>>;

export async function planBatch(source: string, flags: PlanFlags): Promise<void> {
  const latencyMs = parseDuration(flags.estimateLatency, '--estimate-latency');
  const config = await resolveBatchConfig(flags);
  const plan = await planOf(source, config, latencyMs);
  const { refusal, cost } = plan;
  const mode = { chosen: plan.mode, modes: plan.modes };
  const seconds = plan.estimate.seconds;
  const runnable = plan.valid;
  if (refusal) process.exitCode = 2;
  if (flags.json) {
    process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
    return;
  }
  const out: string[] = [`plan for ${plan.source} (${plan.format})`];
  out.push(
    `  items       ${plan.total}` +
      (plan.invalid > 0
        ? ` (${plan.valid} to run, ${plan.invalid} invalid: skipped, or refused with --strict)`
        : ', all valid'),
  );
  if (plan.selection) {
    const of = plan.selection.stoppedAtLimit
      ? `the first ${plan.selection.read} rows read (the limit stopped the reading)`
      : `${plan.selection.read} rows`;
    out.push(`  selection   ${plan.selection.description}: ${plan.total} of ${of}`);
  }
  if (plan.invalid > 0) {
    const more = plan.invalid > plan.invalidRows.length ? ` (the first ${plan.invalidRows.length})` : '';
    out.push(`  invalid rows${more}:`, ...plan.invalidRows.map((r) => `    ${r.reason}`));
  }
  for (const w of plan.warnings) out.push(`  warning: ${w}`);
  out.push(
    `  processor   ${plan.processor ?? '(not usable, see below)'}`,
    `  limits      concurrency ${plan.concurrency}, rate ${plan.rate === null ? 'unpaced' : `${plan.rate}/s`}, ` +
      `${plan.maxAttempts} attempts per item`,
    `  duration    ~${spacedDuration(seconds * 1000)} (assuming ${latencyMs} ms per item; --estimate-latency)`,
    `  mode        ${mode.chosen.name} (--items-per-child ${mode.chosen.itemsPerChild}` +
      `${mode.chosen.why === 'auto' ? ', chosen by auto' : ''}); estimated ` +
      mode.modes.map((m) => `${m.name} ~${spacedDuration(m.seconds * 1000)}`).join(', '),
  );
  if (plan.suggestion) {
    const s = plan.suggestion;
    out.push(
      `  faster      ${s.name} ~${spacedDuration(s.seconds * 1000)}: --items-per-child ${s.itemsPerChild === AUTO_PAGE_SIZE || s.name === 'runner' ? 'auto' : s.itemsPerChild} --item-execution ${s.itemExecution}`,
    );
  }
  const costText =
    cost.total === null
      ? '-'
      : `${cost.total}${cost.field ? ` (field "${cost.field}"${cost.unknownItems > 0 ? `, ${cost.unknownItems} items without a cost` : ''})` : ` (${runnable} × ${cost.perItem})`}`;
  out.push(`  cost        ${costText}`);
  if (cost.budget !== null && cost.total !== null && cost.total > cost.budget) {
    out.push(
      `  warning: the expected cost ${cost.total} exceeds the budget ${cost.budget}: the batch would pause at the budget`,
    );
  }
  out.push(
    refusal
      ? `these settings would not work:\n  ${refusal.replace(/\n/g, '\n  ')}`
      : 'nothing was started: `durabatch start` (or `run`) with the same options starts this batch',
  );
  process.stdout.write(out.join('\n') + '\n');
}

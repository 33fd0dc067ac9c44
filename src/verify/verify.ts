// The invariant checker behind `durabatch verify <id>` (and the fault tests): every item of the
// source has exactly one terminal record; the report, `status`, the workflow's own result, the result
// files and Temporal's item workflows all tell the same counts; and, given the target's ledger of
// Idempotency-Keys, no item took effect twice and every succeeded item took effect once.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BatchProgress, Item, ItemOutcome } from '../../workflows/types';
import type { BatchClient } from '../client/batch-client';
import { describeBatch, readBatchInput } from '../client/batch-records';
import { pageFile } from '../output-dir/layout';
import { jsonLines, readJsonLinesIfExists } from '../util/json-lines';
import { checkEffects, type EffectRecord, type EffectsCheck } from './effects';
import {
  childCounts,
  countsOf,
  fmt,
  readCsv,
  same,
  sample,
  STATUSES,
  tally,
  workflowResult,
  type Counts,
} from './readers';
import { FailureType } from '../../workflows/failure-types';

export type { Counts };

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyReport {
  batchId: string;
  status: string;
  ok: boolean;
  total: number;
  checks: Check[];
  counts: Record<string, Counts | undefined>;
  effects?: EffectsCheck;
}

export async function verifyBatch(
  batches: BatchClient,
  batchId: string,
  opts: { effects?: EffectRecord[] } = {},
): Promise<VerifyReport> {
  const { client } = batches;
  const desc = await describeBatch(batches, batchId);
  const input = await readBatchInput(batches, batchId);
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const report: VerifyReport = {
    batchId,
    status: desc.status.name,
    ok: false,
    total: input.source.total,
    checks,
    counts: {},
  };
  if (desc.status.name === 'RUNNING') {
    const p = await batches.progress(batchId).catch(() => undefined);
    check(
      'ended',
      false,
      `the batch is still running${p ? ` (${p.percent}%)` : ''}; verify it once it has ended`,
    );
    return report;
  }
  check('ended', true, `workflow ${desc.status.name}`);

  // 1. Exactly one terminal record per source item.
  const results = path.join(input.outputDir, 'results');
  const outcomes = (await readJsonLinesIfExists<ItemOutcome>(path.join(results, 'items.jsonl'))) ?? [];
  const sourceKeys = new Set<string>();
  for await (const item of jsonLines<Item>(path.join(input.source.dir, 'items.jsonl')))
    sourceKeys.add(item.key);
  const recorded = new Map<string, number>();
  for (const o of outcomes) recorded.set(o.key, (recorded.get(o.key) ?? 0) + 1);
  const missing = [...sourceKeys].filter((k) => !recorded.has(k));
  const twice = [...recorded].filter(([, n]) => n > 1).map(([k]) => k);
  const strangers = [...recorded.keys()].filter((k) => !sourceKeys.has(k));
  check(
    'one terminal record per item',
    sourceKeys.size === input.source.total &&
      missing.length === 0 &&
      twice.length === 0 &&
      strangers.length === 0,
    `${input.source.total} items in the source, ${outcomes.length} records in items.jsonl` +
      (missing.length ? `; no record: ${sample(missing)}` : '') +
      (twice.length ? `; recorded twice: ${sample(twice)}` : '') +
      (strangers.length ? `; not in the source: ${sample(strangers)}` : ''),
  );

  // 2. The result pages the engine wrote hold no item twice (the report would hide a double count).
  const paged = new Map<string, number>();
  for (let page = 0; ; page++) {
    const outcomesOfPage = await readJsonLinesIfExists<ItemOutcome>(pageFile(input.outputDir, page));
    if (!outcomesOfPage) break;
    for (const o of outcomesOfPage) paged.set(o.key, (paged.get(o.key) ?? 0) + 1);
  }
  const pagedTwice = [...paged].filter(([, n]) => n > 1).map(([k]) => k);
  check(
    'no outcome recorded twice',
    pagedTwice.length === 0,
    pagedTwice.length
      ? `twice in the result pages: ${sample(pagedTwice)}`
      : `${paged.size} outcomes in the result pages, each once`,
  );

  // 3. Every view of the counts agrees.
  const summary = JSON.parse(
    await readFile(path.join(results, 'summary.json'), 'utf8').catch(() => 'null'),
  ) as BatchProgress | null;
  const status = await batches.progress(batchId).catch(() => undefined);
  const result = await workflowResult(client, batchId);
  const csvRows = await readCsv(path.join(results, 'results.csv'));
  const failedCsv = await readCsv(path.join(results, 'failed.csv'));
  const records = tally(outcomes.map((o) => o.status));
  report.counts = {
    items: records,
    report: summary ? countsOf(summary) : undefined,
    status: status ? countsOf(status) : undefined,
    result: result ? countsOf(result) : undefined,
    resultsCsv: tally(csvRows.map((r) => r.status ?? '')),
  };
  for (const [name, c] of Object.entries(report.counts)) {
    if (name === 'items') continue;
    if (!c) {
      check(
        `${name} counts`,
        name === 'result',
        name === 'result' ? 'no final result (the batch was cancelled)' : `no ${name} found`,
      );
      continue;
    }
    check(
      `${name} counts`,
      same(c, records),
      same(c, records) ? fmt(c) : `${fmt(c)} ≠ items.jsonl ${fmt(records)}`,
    );
  }
  const addsUp =
    summary &&
    STATUSES.reduce((n, s) => n + summary[s], 0) === summary.total &&
    summary.running === 0 &&
    summary.pending === 0;
  check(
    'counts add up to total',
    Boolean(addsUp),
    summary
      ? `${fmt(countsOf(summary))}; running ${summary.running}, pending ${summary.pending}; total ${summary.total}`
      : 'no summary.json',
  );
  const toFix = outcomes.filter(
    (o) => o.status === 'failed' || o.errorType === FailureType.InvalidItem,
  ).length;
  check(
    'failed.csv rows',
    failedCsv.length === toFix,
    `${failedCsv.length} rows; ${toFix} failed or invalid items`,
  );

  // 4. Temporal's own child workflows agree: none running; per item, one Completed per succeeded item;
  // in page mode (items inside page children), no page failed or was terminated.
  const startFailures = outcomes.filter((o) => o.errorType === FailureType.ChildStartFailed).length;
  if ((input.itemsPerChild ?? 1) > 1) {
    const pages = await childCounts(client, batchId, records, 'pageWorkflow');
    check(
      'page workflows',
      pages.Running === 0 && pages.Failed === 0 && pages.Terminated === 0 && pages.TimedOut === 0,
      Object.entries(pages)
        .map(([s, n]) => `${s} ${n}`)
        .join(', '),
    );
  } else {
    const children = await childCounts(client, batchId, records);
    check(
      'item workflows',
      children.Running === 0 &&
        children.Completed === records.succeeded &&
        children.Failed === records.failed - startFailures,
      Object.entries(children)
        .map(([s, n]) => `${s} ${n}`)
        .join(', '),
    );
  }

  // 5. Effects at the target.
  if (opts.effects) {
    const e = checkEffects(
      batchId,
      outcomes,
      opts.effects,
      input.steps.length > 1 ? input.steps.map((s) => s.name) : [],
    );
    report.effects = e;
    check(
      'no effect duplicated',
      e.duplicated.length === 0,
      e.duplicated.length
        ? `took effect more than once: ${sample(e.duplicated)}`
        : `${e.total} effects, none twice`,
    );
    check(
      'every succeeded item took effect',
      e.missing.length === 0,
      e.missing.length
        ? `no effect for: ${sample(e.missing)}`
        : `${records.succeeded} succeeded items, each with its effect`,
    );
    check(
      'no effect for items never sent',
      e.unexpected.length === 0,
      e.unexpected.length ? `skipped items with an effect: ${sample(e.unexpected)}` : 'none',
    );
  }
  report.ok = checks.every((c) => c.ok);
  return report;
}

/** Text form, one line per check. */
export function formatVerifyReport(r: VerifyReport): string {
  const lines = [`verify ${r.batchId} (${r.status}, ${r.total} items): ${r.ok ? 'OK' : 'PROBLEMS FOUND'}`];
  for (const c of r.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  if (r.effects?.effectWithoutSuccess.length) {
    lines.push(
      `  note: ${r.effects.effectWithoutSuccess.length} failed/cancelled items took effect at the target (${sample(r.effects.effectWithoutSuccess)})`,
    );
  }
  return lines.join('\n');
}

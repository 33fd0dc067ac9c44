// `npm run example:reports`: an analyst running a costly report per lead within a budget. Each
// report costs 0.50 (--cost-per-item); `durabatch plan` previews the 12 leads and their cost (6.00)
// against the budget (3.00); the run pauses before the report that would overspend; the analyst
// raises the budget with `durabatch set --budget` and `durabatch resume`s, and the batch completes.
// The check: it paused for the budget with 6 reports bought, then completed with all 12, each
// report ordered once, cost 6.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchProgress } from '../../workflows/types';
import { startTargetApi } from '../target-api/server';
import {
  durabatch,
  durabatchJson,
  finish,
  main,
  rel,
  ROOT,
  startDurabatch,
  useTemporalServer,
} from '../lib/example';

const COST = 0.5;
const BUDGET = 3;
const RAISED = 6;

main('reports', async () => {
  const leads = path.join(ROOT, 'examples', 'reports', 'leads.csv');
  const count = (await readFile(leads, 'utf8')).trim().split('\n').length - 1;
  // A slow report service: each report takes a few hundred ms, a few answers are 503/429.
  const target = await startTargetApi({ latencyMs: [300, 600], failureRate: 0.05, rateLimitRate: 0.03 });
  process.stderr.write(`example report service on ${target.url} (300-600 ms a report, 5% 503, 3% 429)\n`);
  const batchOptions = [
    '--id-column',
    'lead_id',
    '--url',
    `${target.url}/api/reports/{lead_id}`,
    '--body',
    '{"lead": "{lead_id}", "company": "{company}", "sections": ["firmographics", "contacts", "risk"]}',
    '--concurrency',
    '2',
    '--cost-per-item',
    String(COST),
    '--budget',
    String(BUDGET),
  ];
  try {
    // 1. What would it cost? plan reads and checks every row, starts nothing.
    const plan = await durabatch(['plan', rel(leads), ...batchOptions]);
    process.stderr.write(plan.stdout);

    // 2. Run it anyway: it stops buying reports at the budget.
    await useTemporalServer();
    const batchId = `reports-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
    const run = startDurabatch([
      'run',
      rel(leads),
      ...batchOptions,
      '--batch-id',
      batchId,
      '--new',
      '--json',
      ...process.argv.slice(2),
    ]);
    let paused: BatchProgress | undefined;
    const deadline = Date.now() + 120_000;
    while (!paused && Date.now() < deadline) {
      await sleep(1_000);
      const status = await durabatchJson<BatchProgress>(['status', batchId, '--json'], { quiet: true }).catch(
        () => undefined, // not started yet
      );
      if (status?.status === 'paused') paused = status;
      else if (status && status.endedAt) break;
    }
    if (!paused) throw new Error(`batch ${batchId} did not pause for its budget within 2 minutes`);
    process.stderr.write(
      `\npaused at cost ${paused.cost} of budget ${paused.budget}: ${paused.statusReason}\n`,
    );

    // 3. Worth it: raise the budget and let it go on.
    const set = await durabatch(['set', batchId, '--budget', String(RAISED)]);
    process.stderr.write(set.stdout);
    const resume = await durabatch(['resume', batchId]);
    process.stderr.write(resume.stdout);
    const { code, stdout } = await run.done;
    const final = JSON.parse(stdout) as BatchProgress;

    const audit = (await readFile(path.join(final.outputDir, 'audit', 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; by?: string; args?: Record<string, unknown> });
    const budgetPause = audit.find((a) => a.action === 'pause' && a.by === 'budget');
    const raised = audit.find((a) => a.action === 'set' && a.args?.budget === RAISED);
    const resumed = audit.find((a) => a.action === 'resume');
    const ordered = target.received().filter((r) => r.effects > 0);
    const ok =
      code === 0 &&
      paused.cost <= BUDGET &&
      paused.succeeded + paused.running === BUDGET / COST &&
      budgetPause !== undefined &&
      raised !== undefined &&
      resumed !== undefined &&
      final.status === 'completed' &&
      final.succeeded === count &&
      final.cost === count * COST &&
      final.budget === RAISED &&
      ordered.length === count &&
      ordered.every((r) => r.effects === 1);
    await finish(
      'reports',
      ok,
      `paused for the budget at ${paused.succeeded + paused.running} reports (cost ${paused.cost} of ${BUDGET}), ` +
        `budget raised to ${final.budget}, resumed: ${final.succeeded} of ${count} reports, cost ${final.cost}; ` +
        `the service made ${ordered.length} reports, ${ordered.filter((r) => r.effects > 1).length} twice`,
    );
  } finally {
    await target.close();
  }
});

// Commands on an existing batch: status, watch, pause, resume, set, cancel.
import type { Command } from 'commander';
import type { BatchClient } from '../../client/batch-client';
import type { FailureRecord } from '../../../workflows/types';
import { InputError } from '../../errors';
import { withBatchClient } from '../batch-connection';
import { checkReport, exitCodeWithReport, followBatch } from '../follow-progress';
import { ProgressView, progressLine, summaryBlock } from '../progress-view';

/** Runs `fn` on one batch; "not found" names the server holding it when this machine started it elsewhere. */
const withClient = <T>(batchId: string, fn: (client: BatchClient) => Promise<T>) =>
  withBatchClient(async (client) => {
    try {
      return await fn(client);
    } catch (err) {
      const { explainMissingBatch } = await import('../../home/wrong-server');
      const { namespace, home } = client.opts;
      throw await explainMissingBatch(err, batchId, { client: client.client, namespace, home });
    }
  });

/** A command's confirmation, on stdout: what was done and what to run next. */
const confirm = (line: string) => process.stdout.write(`${line}\n`);

const positiveNumber = (flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InputError(`${flag} "${v}" is not a number`);
  return n;
};

export function registerOps(program: Command): void {
  program
    .command('status')
    .argument('<batchId>')
    .description("one snapshot of a batch's progress")
    .option('--json', 'the status object as JSON')
    .action((batchId: string, opts: { json?: boolean }) =>
      withClient(batchId, async (client) => {
        const p = await client.progress(batchId);
        const itemsUrl = client.itemsUrl(batchId);
        if (opts.json) {
          // The latest failures, while the batch runs too (an ended batch's summary has them).
          const recentFailures =
            (p as { recentFailures?: FailureRecord[] }).recentFailures ??
            (p.failed > 0 ? await client.failures(batchId) : []);
          process.stdout.write(JSON.stringify({ ...p, recentFailures, itemsUrl }, null, 2) + '\n');
        } else
          process.stdout.write(
            `${progressLine(p)}\n${summaryBlock(p)}\n` +
              (p.webUiUrl ? `  Web UI: ${p.webUiUrl}\n` : '') +
              (itemsUrl ? `  items:  ${itemsUrl}\n` : ''),
          );
      }),
    );

  program
    .command('watch')
    .argument('<batchId>')
    .description('live progress until the batch ends')
    .option('--json', 'print the final status as JSON')
    .action((batchId: string, opts: { json?: boolean }) =>
      withClient(batchId, async (client) => {
        const final = await followBatch(client, batchId, new ProgressView());
        const report = await checkReport(final);
        process.stderr.write(summaryBlock(final, report.lines) + '\n');
        if (opts.json) process.stdout.write(JSON.stringify(final, null, 2) + '\n');
        process.exitCode = exitCodeWithReport(final, report);
      }),
    );

  program
    .command('pause')
    .argument('<batchId>')
    .option('--reason <text>', 'shown in status and audit')
    .description('stop starting new items; items in flight finish')
    .action((batchId: string, opts: { reason?: string }) =>
      withClient(batchId, async (c) => {
        await c.pause(batchId, opts.reason);
        confirm(
          `paused ${batchId}: no new item starts; items in flight finish (\`durabatch status ${batchId}\`)`,
        );
      }),
    );

  program
    .command('resume')
    .argument('<batchId>')
    .description('start new items again')
    .action((batchId: string) =>
      withClient(batchId, async (c) => {
        const before = await c.progress(batchId);
        if (before.status !== 'paused') {
          confirm(`${batchId} is ${before.status}, not paused: nothing to resume`);
          return;
        }
        await c.resume(batchId);
        confirm(
          `resumed ${batchId}: items start again (was paused: ${before.statusReason ?? 'by an operator'})`,
        );
      }),
    );

  program
    .command('set')
    .argument('<batchId>')
    .option('--concurrency <n>', 'items in flight, 1..1000')
    .option('--rate <items/s>', 'items started per second (0 removes pacing)')
    .option(
      '--budget <cost>',
      'cost budget (0 removes it); a batch paused by its budget needs `resume` after raising it',
    )
    .description('change limits of a running batch (validated by the batch, answered synchronously)')
    .action((batchId: string, opts: { concurrency?: string; rate?: string; budget?: string }) =>
      withClient(batchId, async (c) => {
        const rate = positiveNumber('--rate', opts.rate);
        const budget = positiveNumber('--budget', opts.budget);
        const limits = await c.setLimits(batchId, {
          concurrency: positiveNumber('--concurrency', opts.concurrency),
          rate: rate === 0 ? null : rate,
          budget: budget === 0 ? null : budget,
        });
        process.stdout.write(
          `limits now: concurrency ${limits.concurrency}, rate ${limits.rate ?? 'unpaced'}, budget ${limits.budget ?? 'none'}\n`,
        );
      }),
    );

  program
    .command('cancel')
    .argument('<batchId>')
    .option(
      '--item <key>',
      'cancel only this item: running → cancelled, pending → skipped; the batch goes on',
    )
    .description('cancel the batch: in-flight items are cancelled, the report is written')
    .addHelpText(
      'after',
      '\nExamples:\n  durabatch cancel patients-20261122-0412-ab12\n  durabatch cancel patients-20261122-0412-ab12 --item P00042',
    )
    .action((batchId: string, opts: { item?: string }) =>
      withClient(batchId, async (c) => {
        if (opts.item === undefined) {
          await c.cancel(batchId);
          confirm(
            `cancellation requested for ${batchId}: items in flight are being stopped and the report written; ` +
              `\`durabatch watch ${batchId}\` follows it to the end`,
          );
          return;
        }
        const res = await c.cancelItem(batchId, opts.item);
        process.stdout.write(
          `item ${res.key}: ${res.action === 'skipped' ? 'will not start (skipped)' : 'cancellation requested'}\n`,
        );
      }),
    );
}

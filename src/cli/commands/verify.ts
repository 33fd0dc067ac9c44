// `durabatch verify <id>`: checks a finished batch's invariants (see src/verify/verify.ts).
import type { Command } from 'commander';
import { withBatchClient } from '../batch-connection';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .argument('<batchId>')
    .description(
      'check a finished batch: one terminal record per item, every count agrees, and (with --effects) nothing took effect twice',
    )
    .option(
      '--effects <file|url>',
      "the target's record of what took effect, by Idempotency-Key: JSON ({records:[{idempotencyKey, effects}]} or an array), JSON lines, or one key per line",
    )
    .option('--json', 'the full report as JSON')
    .addHelpText(
      'after',
      `
Examples:
  durabatch verify patients-20261122-0412-ab12
  durabatch verify patients-20261122-0412-ab12 --effects http://localhost:8080/_received

Exit code: 0 every check passed, 1 a check failed (or the batch is still running), 2 bad input.`,
    )
    .action((batchId: string, opts: { effects?: string; json?: boolean }) =>
      withBatchClient(async (client) => {
        const { loadEffects } = await import('../../verify/effects');
        const { formatVerifyReport, verifyBatch } = await import('../../verify/verify');
        const effects = opts.effects ? await loadEffects(opts.effects) : undefined;
        const report = await verifyBatch(client, batchId, { effects });
        if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        else process.stdout.write(formatVerifyReport(report) + '\n');
        process.exitCode = report.ok ? 0 : 1;
      }),
    );
}

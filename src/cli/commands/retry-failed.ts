// `durabatch retry-failed <id>`: its flags and help; the work is in ../retry-failed-batch.ts,
// imported when the command runs.
import type { Command } from 'commander';
import { addRetryFailedOptions } from '../batch-options';
import type { RetryFlags } from '../retry-failed-batch';

export function registerRetryFailed(program: Command): void {
  const cmd = addRetryFailedOptions(
    program
      .command('retry-failed')
      .argument('<batchId>', 'an ended batch with failed items')
      .description('start a new batch of exactly the failed items of <batchId>, linked to it'),
  )
    .option('--follow', 'follow the new batch to its end like `run` (with a worker in this process)')
    .option('--no-worker', 'with --follow: do not run a worker in this process')
    .option('--json', 'print the new batch as JSON (with --follow: its final status)')
    .addHelpText(
      'after',
      `
Examples:
  durabatch retry-failed patients-20250131-080003-ab12
  durabatch retry-failed patients-20250131-080003-ab12 --url 'http://localhost:8080/v2/patients/{patient_id}' --follow
  durabatch retry-failed leads-20250131-120000-x9k2 --concurrency 2 --rate 1 --max-attempts 10

The failed items (status "failed" in results/items.jsonl of <batchId>) are taken from the old batch's
staged copy, so the rows are exactly those that failed even if the original file changed since, and
keep their keys (a batch keyed by row number gets a "_durabatch_key" column holding the old key).
They are written to <output>/retry-of-<batchId>.jsonl. The new batch has the old one's processor,
retry policy, limits and failure policy, except for the flags given here; processor flags change only
the settings they name. Both batches are linked: the new one's memo has retryOf, and the old one's
audit log records retry-failed with the new id.
Exit code: 0 started (with --follow: all items succeeded), 1 the followed batch ended with failures,
2 bad input (unknown batch, still running, nothing failed).`,
    );
  cmd.action(async (oldId: string, flags: RetryFlags) => {
    const given = new Set(
      cmd.options.map((o) => o.attributeName()).filter((name) => cmd.getOptionValueSource(name) === 'cli'),
    );
    const { retryFailedBatch } = await import('../retry-failed-batch');
    await retryFailedBatch(oldId, flags, given);
  });
}

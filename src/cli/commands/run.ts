// `durabatch run`: start a batch and follow it to the end. Uses the server that answers (or starts
// the embedded one) and runs a worker in this process, so one command does everything.
// The work itself is in ../run-batch.ts, imported when the command runs.
import type { Command } from 'commander';
import { addBatchOptions } from '../batch-options';
import type { RunFlags } from '../run-batch';

export function registerRun(program: Command): void {
  addBatchOptions(
    program
      .command('run')
      .argument('<source>', 'items: a CSV, JSONL, JSON or XLSX file, or a directory of files')
      .description('start a batch and follow it with live progress to the end')
      .option('--json', 'print the final status as JSON on stdout')
      .option(
        '--no-worker',
        'do not run a worker in this process (use workers started with `durabatch worker`)',
      )
      .option(
        '--new',
        'start a separate batch, even if this same command has one unfinished or already ended (default: resume it, or show its summary)',
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  durabatch run examples/patients.csv --url http://localhost:8080/patients --id-column patient_id
  durabatch run leads.csv --url 'https://api.example.com/reports/{lead_id}' --method PUT \\
      --header 'Authorization: Bearer \${env:API_TOKEN}' --concurrency 20 --rate 5

With no Temporal server answering (TEMPORAL_ADDRESS, default 127.0.0.1:7233) it starts the embedded
dev server (database in DURABATCH_HOME, default ./.durabatch) and stops it at the end.
Running the same command again (same source file, same settings) while its batch is unfinished
resumes that batch instead of starting another: after a crash nothing is processed twice. After the
batch has ended it shows that batch's summary and sends nothing (exit code as the batch's outcome);
two runs started together make one batch. If the server answering is not the one the batch was
started on, it refuses (exit 2) and names that server.
Exit code: 0 all items succeeded, 1 the batch ended partial_failure/failed/cancelled, 2 bad input.`,
    )
    .action((source: string, flags: RunFlags) =>
      import('../run-batch').then(({ runBatch }) => runBatch(source, flags)),
    );
}

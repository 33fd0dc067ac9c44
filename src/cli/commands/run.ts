// `durabatch run`: start a batch and follow it to the end. Uses the server that answers (or starts
// the embedded one) and runs a worker in this process, so one command does everything.
import path from 'node:path';
import type { Command } from 'commander';
import { defaultBatchId } from '../../client/batch-client';
import { stepsFromConfig } from '../../client/steps';
import { addBatchOptions, resolveBatchConfig, type BatchFlags } from '../batch-options';
import { followWithWorker } from '../follow-batch';

const say = (msg: string) => process.stderr.write(`${msg}\n`);

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
Exit code: 0 all items succeeded, 1 the batch ended partial_failure/failed/cancelled, 2 bad input.`,
    )
    .action(async (source: string, flags: BatchFlags & { json?: boolean; worker: boolean }) => {
      const config = await resolveBatchConfig(flags);
      stepsFromConfig(config); // refuse a bad processor setup before starting anything

      const home = path.resolve(config.home);
      // Fix the id now so the in-process worker can log into the batch's own logs/ folder.
      const batchId = (config.batchId ??= defaultBatchId(source));
      config.outputDir ??= path.join('output', batchId);
      await followWithWorker({
        taskQueue: config.taskQueue,
        outputDir: config.outputDir,
        worker: flags.worker,
        json: flags.json,
        home,
        logLevel: config.logLevel,
        logLevels: config.logLevels,
        start: async (client) => {
          const started = await client.start(source, config);
          say(`batch ${started.batchId}: ${started.total} items`);
          for (const w of started.warnings) say(`  warning: ${w}`);
          if (started.invalid > 0) {
            say(
              `  ${started.invalid} invalid rows will be skipped (use --strict to refuse the batch instead):`,
            );
            for (const p of started.problems) say(`    ${p}`);
          }
          if (started.webUiUrl) say(`  Web UI: ${started.webUiUrl}`);
          if (started.itemsUrl) say(`  items:  ${started.itemsUrl}`);
          return started.batchId;
        },
      });
    });
}

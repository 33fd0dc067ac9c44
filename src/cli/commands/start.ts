// `durabatch start`: start a batch on a running server, print its id and Web UI links, return.
import path from 'node:path';
import type { Command } from 'commander';
import { stepsFromConfig } from '../../client/steps';
import { addBatchOptions, resolveBatchConfig, type BatchFlags } from '../batch-options';
import { say, withBatchClient } from '../batch-connection';
import { checkTlsFiles } from '../tls-files';

export function registerStart(program: Command): void {
  addBatchOptions(
    program
      .command('start')
      .argument('<source>', 'items: a CSV, JSONL, JSON or XLSX file, or a directory of files')
      .description('start a batch, print its id and Web UI link, and return (workers do the work)')
      .option('--json', 'print {batchId, total, outputDir, webUiUrl, itemsUrl} as JSON'),
  )
    .addHelpText(
      'after',
      `
Examples:
  durabatch server &            # or any Temporal server (TEMPORAL_ADDRESS)
  durabatch worker &
  durabatch start leads.csv --url 'https://api.example.com/reports/{lead_id}' --id-column lead_id
  durabatch watch <batchId>

Needs a running Temporal server (it does not start the embedded one, which would stop when this
command returns) and at least one \`durabatch worker\` on the same task queue.`,
    )
    .action(async (source: string, flags: BatchFlags & { json?: boolean }) => {
      const config = await resolveBatchConfig(flags);
      await checkTlsFiles(stepsFromConfig(config));
      await withBatchClient(
        async (client) => {
          const started = await client.start(source, config);
          for (const w of started.warnings) say(`warning: ${w}`);
          if (started.invalid > 0) say(`${started.invalid} invalid rows will be skipped`);
          if (flags.json) {
            const { batchId, total, outputDir, webUiUrl, itemsUrl } = started;
            process.stdout.write(
              JSON.stringify({ batchId, total, outputDir, webUiUrl, itemsUrl }, null, 2) + '\n',
            );
          } else {
            process.stdout.write(`${started.batchId}\n`);
            say(`started batch ${started.batchId}: ${started.total} items → ${started.outputDir}`);
            if (started.webUiUrl) say(`  Web UI: ${started.webUiUrl}`);
            if (started.itemsUrl) say(`  items:  ${started.itemsUrl}`);
            say(`  follow it with: durabatch watch ${started.batchId}`);
          }
        },
        { home: path.resolve(config.home), taskQueue: config.taskQueue },
      );
    });
}

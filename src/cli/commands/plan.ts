// `durabatch plan`: its flags and help; the work is in ../plan-batch.ts, imported when it runs.
import type { Command } from 'commander';
import { addBatchOptions } from '../batch-options';
import type { PlanFlags } from '../plan-batch';

export function registerPlan(program: Command): void {
  addBatchOptions(
    program
      .command('plan')
      .argument('<source>', 'items: a CSV, JSONL, JSON or XLSX file, or a directory of files')
      .description(
        'validate every item and preview the batch (count, invalid rows, duration, cost); starts nothing',
      )
      .option(
        '--estimate-latency <duration>',
        'assumed time per item for the duration estimate: ms, or 2s, 1m',
        '1s',
      )
      .option('--json', 'print the plan as JSON'),
  )
    .addHelpText(
      'after',
      `
Examples:
  durabatch plan examples/patients.csv --url http://localhost:8080/patients --id-column patient_id
  durabatch plan leads.csv --config batch.json --concurrency 50 --estimate-latency 300ms
  durabatch plan invoices/ --glob '**/*.pdf' --command "pdftotext {path} {documents}/{file}.txt" --json

Takes the same options as \`start\` and runs the same checks (settings, processor, every row against
--schema, duplicate keys), so a clean plan means \`start\` accepts the batch. A --module is loaded once,
as a worker would, so a module that fails when imported is reported here. Needs no Temporal server
and starts nothing; the validated copy is kept in DURABATCH_HOME and reused by the next start.
The duration assumes --estimate-latency per item at the chosen --concurrency and --rate; the cost uses
costPerItem / costField from the settings (\`-\` when none is set).
Exit code: 0 valid (invalid rows are listed and would be skipped), 2 refused (bad settings, or
invalid rows with --strict).`,
    )
    .action((source: string, flags: PlanFlags) =>
      import('../plan-batch').then((m) => m.planBatch(source, flags)),
    );
}

// `durabatch run`: start a batch and follow it to the end. Uses the server that answers (or starts
// the embedded one) and runs a worker in this process, so one command does everything.
import path from 'node:path';
import { appendAudit } from '../../audit/audit-log';
import type { Command } from 'commander';
import { defaultBatchId } from '../../client/batch-client';
import { stepsFromConfig } from '../../client/steps';
import { checkModulesLoad } from '../../../activities/processors/module';
import { addBatchOptions, resolveBatchConfig, type BatchFlags } from '../batch-options';
import { followWithWorker } from '../follow-batch';
import {
  readRunRecord,
  removeRunRecord,
  runKey,
  writeRunRecord,
  type RunRecord,
} from '../../runtime/run-record';
import { compareServers, serverIdentity } from '../../runtime/server-identity';
import { resumeOnWrongServer } from '../../runtime/wrong-server';
import { InputError } from '../../errors';
import type { BatchClient } from '../../client/batch-client';
import { WorkflowNotFoundError } from '@temporalio/client';

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
      )
      .option(
        '--new',
        'always start a new batch, even if this same command left one unfinished (default: resume it)',
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
resumes that batch instead of starting another: after a crash nothing is processed twice. If the
server answering is not the one the batch was started on, it refuses (exit 2) and names that server.
Exit code: 0 all items succeeded, 1 the batch ended partial_failure/failed/cancelled, 2 bad input.`,
    )
    .action(
      async (source: string, flags: BatchFlags & { json?: boolean; worker: boolean; new?: boolean }) => {
        const config = await resolveBatchConfig(flags);
        const steps = stepsFromConfig(config); // refuse a bad processor setup before starting anything
        // This process's worker would import a --module: one that cannot load is refused now (exit 2).
        if (flags.worker) await checkModulesLoad(steps);

        const home = path.resolve(config.home);
        const key = await runKey(source, config);
        const previous = flags.new ? undefined : await readRunRecord(home, key);
        // The id is fixed (and recorded) before the batch starts: a crash between the two leaves a
        // record whose batch does not exist yet, and the next run starts it under the same id.
        let record: RunRecord | undefined;
        const fresh = (): RunRecord => {
          const batchId = config.batchId ?? defaultBatchId(source);
          return {
            batchId,
            taskQueue: config.taskQueue,
            outputDir: path.resolve(config.outputDir ?? path.join('output', batchId)),
            source: path.resolve(source),
            startedAt: new Date().toISOString(),
          };
        };
        let resuming = false;
        await followWithWorker({
          taskQueue: async (client) => {
            const here = await serverIdentity(client.client, client.opts.namespace, home);
            // On another server the batch is "absent" and would be started again from its first item.
            if (previous?.server && compareServers(previous.server, here) === 'different')
              throw resumeOnWrongServer({ ...previous, server: previous.server }, here!);
            const state = previous ? await batchState(client, previous.batchId) : 'absent';
            resuming = state === 'running';
            record = previous && state !== 'closed' ? previous : fresh();
            // The server it is found on (or about to be started on), also upgrading an older record.
            if (here) record = { ...record, server: here };
            if (resuming) await writeRunRecord(home, key, record);
            return record.taskQueue;
          },
          outputDir: () => record!.outputDir,
          worker: flags.worker,
          json: flags.json,
          home,
          logLevel: config.logLevel,
          logLevels: config.logLevels,
          start: async (client) => {
            const r = record!;
            if (resuming) {
              say(`resuming batch ${r.batchId}, started ${r.startedAt} by this same command`);
              say('  items already finished are not processed again (use --new for a separate batch)');
              if (client.webUiUrl(r.batchId)) say(`  Web UI: ${client.webUiUrl(r.batchId)}`);
              if (client.itemsUrl(r.batchId)) say(`  items:  ${client.itemsUrl(r.batchId)}`);
              // Who picked the batch up again, and when: the crash itself leaves no trace elsewhere.
              await appendAudit(r.outputDir, {
                action: 'resume-run',
                batchId: r.batchId,
                args: { startedAt: r.startedAt, source: r.source },
                result: 'the same run command was started again while the batch was still running',
              });
              return r.batchId;
            }
            await writeRunRecord(home, key, r);
            const started = await client
              .start(source, { ...config, batchId: r.batchId, outputDir: r.outputDir })
              .catch(async (err: unknown) => {
                // Refused before anything started (bad input, an id taken by another batch): the
                // record must not make the next run "resume" a batch this command never started.
                if (err instanceof InputError) await removeRunRecord(home, key);
                throw err;
              });
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
      },
    );
}

/** Whether a batch exists and is still running. */
async function batchState(client: BatchClient, batchId: string): Promise<'running' | 'closed' | 'absent'> {
  const desc = await client
    .handle(batchId)
    .describe()
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
  if (!desc) return 'absent';
  return desc.status.name === 'RUNNING' ? 'running' : 'closed';
}

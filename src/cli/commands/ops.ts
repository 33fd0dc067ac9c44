// Commands on an existing batch: status, watch, pause, resume, set, cancel.
import type { Command } from 'commander';
import type { BatchClient } from '../../client/batch-client';
import type { FailureRecord } from '../../../workflows/types';
import { InputError } from '../../errors';
import { BatchStalledError } from '../../client/batch-health';
import { withBatchClient } from '../batch-connection';
import { checkReport, exitCodeWithReport, followBatch } from '../follow-progress';
import { ProgressView, progressLine, summaryBlock } from '../progress-view';

/**
 * `status` of a running batch that cannot answer: the cause (no worker polling, workflow task
 * failing) on stderr, and with --json as `stalled` on stdout; exit code 1.
 */
function printStall(err: BatchStalledError, json: boolean | undefined): void {
  if (json) {
    const { batchId, ...stalled } = err.stall;
    process.stdout.write(JSON.stringify({ batchId, status: 'running', stalled }, null, 2) + '\n');
  }
  process.stderr.write(`durabatch: ${err.message}\n`);
  process.exitCode = 1;
}

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

/** Resumes the batch if it is paused; says what was done (`quiet`: nothing when it was not paused). */
async function resumeIfPaused(c: BatchClient, batchId: string, quiet = false): Promise<void> {
  const before = await c.progress(batchId);
  if (before.status !== 'paused') {
    if (!quiet) confirm(`${batchId} is ${before.status}, not paused: nothing to resume`);
    return;
  }
  await c.resume(batchId);
  confirm(`resumed ${batchId}: items start again (was paused: ${before.statusReason ?? 'by an operator'})`);
}

export function registerOps(program: Command): void {
  program
    .command('status')
    .argument('<batchId>')
    .description("one snapshot of a batch's progress")
    .option('--json', 'the status object as JSON')
    .action((batchId: string, opts: { json?: boolean }) =>
      withClient(batchId, async (client) => {
        let p;
        try {
          p = await client.progress(batchId);
        } catch (err) {
          if (!(err instanceof BatchStalledError)) throw err;
          return printStall(err, opts.json);
        }
        const itemsUrl = client.itemsUrl(batchId);
        if (opts.json) {
          // The latest failures, while the batch runs too (an ended batch's summary has them).
          const recentFailures =
            (p as { recentFailures?: FailureRecord[] }).recentFailures ??
            (p.failed > 0 ? await client.failures(batchId) : []);
          process.stdout.write(JSON.stringify({ ...p, recentFailures, itemsUrl }, null, 2) + '\n');
        } else
          process.stdout.write(
            `${progressLine(p)}\n${summaryBlock(p, p.endedAt ? (await checkReport(p)).lines : undefined)}\n` +
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
    .description('stop starting new items; items in flight finish (waits until no item can start)')
    .action((batchId: string, opts: { reason?: string }) =>
      withClient(batchId, async (c) => {
        const ack = await c.pause(batchId, opts.reason);
        if (ack.acknowledged) {
          confirm(
            ack.status === 'paused'
              ? `paused ${batchId}: no new item starts; items in flight finish (\`durabatch status ${batchId}\`)`
              : `${batchId} is ${ack.status}: no new item starts`,
          );
          return;
        }
        // The pause is recorded and will be applied: say what may still start items, and why.
        process.stderr.write(
          `durabatch: pause of ${batchId} requested, not yet acknowledged after ${Math.round(ack.waitedMs / 1000)} s; ` +
            `items may still start in:\n` +
            ack.waitingFor.map((w) => `  ${w.child}: ${w.cause}\n`).join('') +
            (ack.moreWaiting > 0 ? `  … and ${ack.moreWaiting} more\n` : '') +
            `  check: \`durabatch status ${batchId} --json\` (pauseAcknowledged)\n`,
        );
        process.exitCode = 1;
      }),
    );

  program
    .command('resume')
    .argument('<batchId>')
    .option('--no-worker', 'never run a worker in this process (when none polls, say so and stop)')
    .description(
      'start new items again; with no worker polling the batch, run one in this process and follow the batch to its end',
    )
    .action(async (batchId: string, opts: { worker: boolean }) => {
      const stall = await withClient(batchId, async (c) => {
        const stall = await c.stall(batchId);
        if (stall?.kind === 'workflow-task-failing') throw new BatchStalledError(stall);
        if (stall) return stall;
        await resumeIfPaused(c, batchId);
        return undefined;
      });
      if (!stall) return;
      if (!opts.worker) throw new BatchStalledError(stall);
      // Nothing runs the batch: this process does, as `run` does, until the batch ends.
      const { followWithWorker } = await import('../run-with-worker');
      const { enableTypeScriptModules } = await import('../typescript-modules');
      await enableTypeScriptModules();
      await followWithWorker({
        worker: true,
        plan: async (client) => {
          const desc = await client.handle(batchId).describe();
          const { memoOutputDir, readBatchInput } = await import('../../client/batch-records');
          // The in-process worker allows this batch's own processors (the user asked to run it), as
          // `run` and `retry-failed --follow` do; nothing else that reaches its task queue.
          const input = await readBatchInput(client, batchId);
          process.stderr.write(
            `no worker was polling \`${stall.taskQueue}\`: running one in this process until the batch ends (Ctrl-C stops it; the batch waits for the next worker)\n`,
          );
          return {
            taskQueue: stall.taskQueue,
            outputDir: memoOutputDir(desc) ?? process.cwd(),
            steps: input.steps,
            start: async (c) => {
              // This process's worker is starting: the server lists it once it first polls.
              for (const until = Date.now() + 30_000; ;) {
                const now = await c.stall(batchId);
                if (now?.kind !== 'no-worker' || Date.now() > until) break;
                await new Promise((r) => setTimeout(r, 300));
              }
              await resumeIfPaused(c, batchId, true);
              return batchId;
            },
          };
        },
      });
    });

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
          // The request is recorded, but only a worker applies it: say so when none can.
          const stall = await c.stall(batchId).catch(() => undefined);
          if (stall)
            process.stderr.write(
              `durabatch: the cancellation waits: ${stall.message}\n  fix: ${stall.hint}\n`,
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

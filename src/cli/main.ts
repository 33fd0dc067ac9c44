// The `durabatch` command line. Command modules import the SDK and other heavy libraries inside
// their actions, so `--help` and the light commands start in a fraction of a second.
import { Command, CommanderError } from 'commander';
import { describeServerError, InputError, ServerUnavailableError } from '../errors';
import { registerCodecServer } from './commands/codec-server';
import { registerConfig } from './commands/config';
import { registerInfra } from './commands/infra';
import { registerOps } from './commands/ops';
import { registerRun } from './commands/run';
import { registerServe } from './commands/serve';
import { registerList } from './commands/list';
import { registerPlan } from './commands/plan';
import { registerReport } from './commands/report';
import { registerRetryFailed } from './commands/retry-failed';
import { registerStart } from './commands/start';
import { registerVerify } from './commands/verify';
import { guardTerminal } from './terminal-text';

const program = new Command('durabatch')
  .description(
    'Durable batch processing on Temporal: one child workflow per item, with retries, limits, progress and a report.',
  )
  .showHelpAfterError()
  .exitOverride();

registerRun(program);
registerStart(program);
registerOps(program);
registerInfra(program);
registerList(program);
registerReport(program);
registerRetryFailed(program);
registerPlan(program);
registerConfig(program);
registerVerify(program);
registerCodecServer(program);
registerServe(program);

/** Exit codes: 0 success, 1 batch ended failed/cancelled (set by commands), 2 usage or input error. */
async function main(argv: string[]): Promise<void> {
  // Batches carry text from outside (answers, keys, file names): none of it may drive the terminal.
  guardTerminal(process.stdout);
  guardTerminal(process.stderr);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    await reportError(err);
  }
}

/** What went wrong, on stderr, with the exit code it deserves (the SDK loads only on this path). */
async function reportError(err: unknown): Promise<void> {
  const { TemporalCliNotFoundError } = await import('../server/provision');
  const { WorkflowNotFoundError, WorkflowUpdateFailedError } = await import('@temporalio/client');
  if (
    err instanceof InputError ||
    err instanceof ServerUnavailableError ||
    err instanceof TemporalCliNotFoundError
  ) {
    process.stderr.write(`durabatch: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  // A batch that cannot move (no worker polling, workflow task failing): its cause and what to do.
  if (err instanceof Error && err.name === 'BatchStalledError') {
    process.stderr.write(`durabatch: ${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  if (err instanceof WorkflowNotFoundError) {
    process.stderr.write(`durabatch: no batch with that id: ${err.message}\n  fix: see \`durabatch list\`\n`);
    process.exitCode = 2;
    return;
  }
  if (err instanceof WorkflowUpdateFailedError) {
    process.stderr.write(`durabatch: rejected: ${err.cause?.message ?? err.message}\n`);
    process.exitCode = 2;
    return;
  }
  // The Temporal server's answer: its real cause (hidden in err.cause) and what to do.
  const server = describeServerError(err);
  if (server) {
    process.stderr.write(`durabatch: ${server.message}\n  fix: ${server.hint}\n`);
    process.exitCode = server.exitCode;
    return;
  }
  process.stderr.write(
    `durabatch: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
}

await main(process.argv);
// Everything was closed above; the Temporal runtime's native threads can keep Node alive for many
// seconds after the last worker stops, so end the process explicitly (logs are written synchronously).
process.exit();

// What this worker agrees to run. A workflow input is written by whoever can start a workflow on the
// task queue, so the processor it names (a program, a module, a URL) is checked against the worker's
// own configuration before anything runs: a forged batch cannot make a worker run a program, import
// a module or call an origin its operator did not list.
import { access, constants, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { Item, ProcessorSpec, StepResult } from '../../workflows/types';
import { FailureType } from '../../workflows/failure-types';
import { expandUrl, resolveEnvRefs } from './template';
import {
  ANY,
  canonicalProcessor,
  envNameAllowed,
  originOf,
  SAFE_BATCH_ENV,
  type ProcessorAllowList,
} from '../../src/worker/allow-settings';

export { ALLOW_ANY, ALLOW_NONE, type ProcessorAllowList } from '../../src/worker/allow-settings';

/** The setting (file / environment / flag) that extends each list, for messages. */
const SETTING = {
  commands: 'allow.commands (DURABATCH_ALLOW_COMMANDS, `durabatch worker --allow-command`)',
  modules: 'allow.modules (DURABATCH_ALLOW_MODULES, `durabatch worker --allow-module`)',
  origins: 'allow.origins (DURABATCH_ALLOW_ORIGINS, `durabatch worker --allow-origin`)',
  env: 'allow.env (DURABATCH_ALLOW_ENV, `durabatch worker --allow-env`)',
} as const;

const PLACEHOLDER = /\{[A-Za-z0-9_.-]+\}/;

function refuse(message: string): never {
  throw ApplicationFailure.nonRetryable(message, FailureType.ProcessorNotAllowed);
}

const realOrResolved = async (p: string): Promise<string> => realpath(p).catch(() => path.resolve(p));

/** The file a program name runs: searched on PATH like execvp, as the spawn will. */
async function findProgram(
  program: string,
  cwd: string,
  searchPath: string | undefined,
): Promise<string | undefined> {
  if (program.includes('/')) return realOrResolved(path.resolve(cwd, program));
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    const candidate = path.resolve(cwd, dir || '.', program);
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return realpath(candidate);
  }
  return undefined;
}

async function checkCommand(
  spec: Extract<ProcessorSpec, { type: 'command' }>,
  allowed: readonly string[],
  allowedEnv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<void> {
  if (allowed.includes(ANY)) return;
  const program = spec.argv[0] ?? '';
  if (PLACEHOLDER.test(program)) {
    refuse(
      `program "${program}" is chosen by an item value, and this worker runs only the programs it allows: ` +
        `give the program literally and add it to ${SETTING.commands}`,
    );
  }
  // The program is allowed, not whatever a variable makes it load or run (LD_PRELOAD, BASH_FUNC_*,
  // GIT_SSH_COMMAND, PYTHONPATH, …: too many to deny): a batch sets only the variables listed.
  const envPatterns = [...SAFE_BATCH_ENV, ...allowedEnv];
  for (const name of Object.keys(spec.env ?? {})) {
    if (!envNameAllowed(name, envPatterns)) {
      refuse(
        `the batch sets ${name} for "${program}", and this worker lets a batch set only ` +
          `${envPatterns.join(', ')}: add ${name} to ${SETTING.env} if batches may set it (never a ` +
          'variable that makes a program load or run other code), or set it in the worker environment',
      );
    }
  }
  // The spawn searches the PATH of the environment it gets: the batch may set its own.
  const batchPath = spec.env?.PATH;
  let searchPath = env.PATH;
  try {
    if (batchPath !== undefined) searchPath = resolveEnvRefs(batchPath, env);
  } catch (err) {
    refuse(`the batch's PATH for "${program}" cannot be resolved: ${(err as Error).message}`);
  }
  const cwd = spec.cwd && !PLACEHOLDER.test(spec.cwd) ? path.resolve(spec.cwd) : process.cwd();
  if (program.includes('/') && !path.isAbsolute(program) && spec.cwd && PLACEHOLDER.test(spec.cwd)) {
    refuse(`program "${program}" is relative to an item's working directory: give its absolute path`);
  }
  const runs = await findProgram(program, cwd, searchPath);
  for (const entry of allowed) {
    // An entry names what the worker's own PATH finds for it (or the file it gives). The name must
    // match too: a multi-call binary (busybox) is `ls` or `sh` by the name it is run as.
    const target = await findProgram(entry, process.cwd(), env.PATH);
    const sameName = path.basename(entry) === path.basename(program);
    if (sameName && (runs !== undefined ? target === runs : entry === program)) return;
  }
  refuse(
    `program "${program}"${runs && runs !== program ? ` (${runs})` : ''} is not allowed on this worker: ` +
      `add it to ${SETTING.commands} if batches may run it`,
  );
}

async function checkModule(file: string, allowed: readonly string[]): Promise<void> {
  if (allowed.includes(ANY)) return;
  const real = await realOrResolved(file);
  for (const entry of allowed) {
    const root = await realOrResolved(entry);
    if (real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) return;
  }
  refuse(
    `module ${file}${real !== path.resolve(file) ? ` (${real})` : ''} is not allowed on this worker: ` +
      `add it (or its directory) to ${SETTING.modules} if batches may run it`,
  );
}

function checkOrigin(url: string, allowed: readonly string[]): void {
  if (allowed.includes(ANY)) return;
  const origin = originOf(url);
  if (origin !== undefined && allowed.some((entry) => originOf(entry) === origin)) return;
  refuse(
    `origin ${origin ?? `of "${url.slice(0, 200)}"`} is not allowed on this worker: ` +
      `add it to ${SETTING.origins} if batches may call it`,
  );
}

export interface AllowCheckContext {
  item: Item;
  steps: Record<string, StepResult>;
  /** The worker's environment: its PATH finds programs. */
  env: NodeJS.ProcessEnv;
}

/**
 * Throws a non-retryable `ProcessorNotAllowed` failure, naming the program, module or origin and the
 * setting that allows it, unless the worker's allow-list covers this step. Runs before the processor.
 */
export async function assertAllowed(
  spec: ProcessorSpec,
  allow: ProcessorAllowList,
  ctx: AllowCheckContext,
): Promise<void> {
  // `run`'s own batch: its processors exactly as the user gave them (any other field refused below
  // unless the configured lists allow it).
  if (allow.processors?.includes(canonicalProcessor(spec))) return;
  if (!allow.processors?.length) return checkLists(spec, allow, ctx);
  try {
    await checkLists(spec, allow, ctx);
  } catch (err) {
    if (!(err instanceof ApplicationFailure)) throw err;
    refuse(
      `${err.message} (this worker runs its own batch's processors exactly as given, and this ` +
        'processor differs from each of them)',
    );
  }
}

async function checkLists(
  spec: ProcessorSpec,
  allow: ProcessorAllowList,
  ctx: AllowCheckContext,
): Promise<void> {
  switch (spec.type) {
    case 'command':
      return checkCommand(spec, allow.commands, allow.env ?? [], ctx.env);
    case 'module':
      return checkModule(spec.module, allow.modules);
    case 'http': {
      if (allow.origins.includes(ANY)) return;
      let url: string;
      try {
        url = expandUrl(spec.url, ctx.item, ctx.steps);
      } catch {
        url = spec.url; // the processor reports a bad template; an unknown origin is refused here
      }
      return checkOrigin(url, allow.origins);
    }
  }
}

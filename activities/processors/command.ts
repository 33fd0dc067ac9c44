// The command processor: one program run per attempt, from an argv template and never through a
// shell, so an item value reaches the program as one literal argument whatever characters it holds.
// The program leads its own process group: a timeout, a cancelled item or a program that leaves
// background children behind gets the whole group killed, so nothing outlives its item.
import { mkdir, readdir, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { CommandProcessorSpec } from '../../workflows/types';
import { documentsDirOf } from '../../src/output-dir/layout';
import { boundedBody, excerpt, type ProcessorContext, type ProcessorOutcome } from './context';
import { resolveEnvRefs, templateContext } from './template';
import { fillArgv, fillChecked, type ItemValueRules } from './item-values';
import { checkItemFile } from '../../src/source/item-file';
import { execute, type RunResult } from './command-process';
import { fileNameVars } from './file-name';
import { FailureType } from '../../workflows/failure-types';
import { loggedText } from '../../src/logging/log-text';
import { maskArgv } from '../../src/logging/secrets';

export { BoundedCapture, MAX_CAPTURE_BYTES } from './command-process';

/** Placeholders the processor fills itself: their values never come from the item. */
const FIXED_NAMES: ReadonlySet<string> = new Set(['documents', 'outputDir', 'attempt', 'idempotencyKey']);
/** Placeholders naming a directory a path built from them must stay inside. */
const DIRECTORY_NAMES: ReadonlySet<string> = new Set(['documents', 'outputDir']);

const STDERR_EXCERPT = 500;
/** Listed produced files travel through history: cap the list. */
const MAX_FILES = 1_000;

/**
 * The files now in the item's documents folder, relative to the output directory and `/`-separated.
 * An empty folder is removed, so a batch does not leave one per item.
 */
export async function collectDocuments(outputDir: string, documentsDir: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (files.length >= MAX_FILES) return;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else files.push(path.relative(outputDir, full).split(path.sep).join('/'));
    }
  };
  await walk(documentsDir);
  if (files.length === 0) await rmdir(documentsDir).catch(() => undefined);
  return files.sort();
}

/**
 * A cancelled attempt's outputs are incomplete (a half-written image, a truncated export): remove the
 * files it added to the item's documents folder, keeping those that were there before (an earlier
 * pipeline step's), so nothing partial is mistaken for a result.
 */
export async function removePartialDocuments(
  outputDir: string,
  documentsDir: string,
  before: ReadonlySet<string>,
): Promise<string[]> {
  const now = await collectDocuments(outputDir, documentsDir);
  const partial = now.filter((f) => !before.has(f));
  await Promise.all(partial.map((f) => rm(path.join(outputDir, f), { force: true })));
  await collectDocuments(outputDir, documentsDir); // removes the folder if nothing is left
  return partial;
}

function tailExcerpt(text: string): string {
  const t = text.trim();
  return t.length > STDERR_EXCERPT ? `…${t.slice(-STDERR_EXCERPT)}` : t;
}

/** debug: argv (secret flags masked), exit code and a stderr excerpt; trace: also stdout. */
function logRun(ctx: ProcessorContext, argv: string[], run: RunResult, latencyMs: number): void {
  if (!ctx.log.isLevelEnabled('debug')) return;
  const how = run.spawnError
    ? `could not start (${run.spawnError.code ?? run.spawnError.message})`
    : run.forced
      ? `was stopped (${run.forced})`
      : run.code !== null
        ? `exited with code ${run.code}`
        : `was killed by ${run.signal ?? 'a signal'}`;
  const line = {
    argv: maskArgv(argv),
    exitCode: run.code,
    ...(run.signal ? { signal: run.signal } : {}),
    ...(run.forced ? { stopped: run.forced } : {}),
    latencyMs,
    stderr: tailExcerpt(run.stderr),
  };
  ctx.log.debug(line, `command ${argv[0]} ${how} in ${latencyMs} ms`);
  if (ctx.log.isLevelEnabled('trace')) {
    ctx.log.trace(
      { argv: line.argv, exitCode: run.code, ...loggedText('stdout', run.stdout) },
      `command ${argv[0]} output`,
    );
  }
}

export async function runCommand(
  spec: CommandProcessorSpec,
  ctx: ProcessorContext,
): Promise<ProcessorOutcome> {
  const { attempt } = ctx;
  const outputDir = path.resolve(ctx.outputDir);
  const documents = documentsDirOf(outputDir, ctx.item.key);
  // Fixed names come last so an item field cannot redirect `{documents}` or `{outputDir}`.
  const vars = {
    ...templateContext(ctx.item, ctx.steps),
    ...fileNameVars(ctx.item),
    documents,
    outputDir,
    key: ctx.item.key,
    attempt,
    idempotencyKey: ctx.idempotencyKey,
  };
  const rules: ItemValueRules = {
    fixed: FIXED_NAMES,
    directories: DIRECTORY_NAMES,
    allowOptionValues: spec.allowOptionValues,
    allowRemoteValues: spec.allowRemoteValues,
  };
  let argv: string[];
  let cwd: string | undefined;
  let env: NodeJS.ProcessEnv;
  try {
    argv = fillArgv(spec.argv, vars, rules);
    // `{path}` of a directory item must still be the file staged, not a link out of its directory.
    await checkItemFile(ctx.item);
    if (!argv[0]) throw new Error('argv is empty: give the program as its first entry');
    // A working directory is a path, never an argument: only the path rule applies.
    const cwdRules = { ...rules, allowOptionValues: true };
    cwd = spec.cwd === undefined ? undefined : path.resolve(fillChecked(spec.cwd, vars, cwdRules, 'cwd'));
    // The item's own folder is made for it below: as a working directory it exists by then.
    if (cwd !== undefined && cwd !== documents && !(await stat(cwd).catch(() => undefined))?.isDirectory()) {
      throw new Error(`working directory ${cwd} does not exist`);
    }
    const extra = Object.fromEntries(
      Object.entries(spec.env ?? {}).map(([k, v]) => [k, resolveEnvRefs(v, ctx.env)]),
    );
    env = {
      ...ctx.env,
      ...extra,
      DURABATCH_BATCH_ID: ctx.batchId,
      DURABATCH_ITEM_KEY: ctx.item.key,
      DURABATCH_IDEMPOTENCY_KEY: ctx.idempotencyKey,
      DURABATCH_ATTEMPT: String(attempt),
      DURABATCH_DOCUMENTS: documents,
    };
  } catch (err) {
    // A template or configuration problem fails the same way on every attempt.
    const message = `cannot build the command: ${(err as Error).message}`;
    throw ApplicationFailure.nonRetryable(message, FailureType.InputError, { attempt });
  }
  if (ctx.signal.aborted) throw ctx.signal.reason;
  const before = new Set(await collectDocuments(outputDir, documents));
  await mkdir(documents, { recursive: true });

  const program = argv[0];
  const started = performance.now();
  const run = await execute(argv, { cwd, env }, spec.timeoutMs, ctx);
  logRun(ctx, argv, run, Math.round(performance.now() - started));
  if (run.forced === 'aborted') {
    const removed = await removePartialDocuments(outputDir, documents, before);
    if (removed.length > 0) ctx.log.info({ removed }, 'cancelled: removed the partial outputs');
    throw ctx.signal.reason;
  }
  const files = await collectDocuments(outputDir, documents);

  if (run.forced === 'timeout') {
    throw ApplicationFailure.retryable(
      `command ${program} did not finish within ${spec.timeoutMs} ms and was killed (with its child processes)`,
      FailureType.CommandTimeout,
      { attempt, timeoutMs: spec.timeoutMs },
    );
  }
  if (run.spawnError) {
    const e = run.spawnError;
    if (e.code !== 'ENOENT') {
      const message = `cannot start "${program}": ${e.code ?? e.name}: ${e.message}`;
      throw ApplicationFailure.nonRetryable(message, FailureType.CommandFailed, { attempt });
    }
    throw ApplicationFailure.nonRetryable(
      `program "${program}" was not found: check that it is installed and on the worker's PATH, or give its absolute path`,
      'CommandNotFound',
      { attempt },
    );
  }

  const code = run.code;
  if (code !== null && (spec.successExitCodes ?? [0]).includes(code)) {
    let body: unknown;
    if (!run.stdoutTruncated && run.stdout.trim() !== '') {
      try {
        body = boundedBody(JSON.parse(run.stdout));
      } catch {
        body = undefined; // plain-text output: only the excerpt is kept
      }
    }
    return { output: excerpt(run.stdout), body, files };
  }
  const how = code !== null ? `exited with code ${code}` : `was killed by ${run.signal ?? 'a signal'}`;
  const stderrText = tailExcerpt(run.stderr);
  const message = `command ${program} ${how}${stderrText ? `: ${stderrText}` : ' (no stderr)'}`;
  const details = { attempt, exitCode: code, signal: run.signal };
  if (code !== null && (spec.retryableExitCodes ?? [75]).includes(code)) {
    throw ApplicationFailure.retryable(message, 'CommandRetryableExit', details);
  }
  throw ApplicationFailure.nonRetryable(message, FailureType.CommandFailed, details);
}

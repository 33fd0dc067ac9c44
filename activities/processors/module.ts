// The module processor: the user's `export default async function process(item, ctx)`, loaded once
// per worker (src/processor-modules/load.ts) and called once per attempt. Its errors are classified
// for Temporal's retry policy: NonRetryableError fails the item at once, anything else is retried.
import { mkdir } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/activity';
import { NonRetryableError, type ProcessContext, type ProcessFunction } from '../../src/sdk';
import type { ModuleProcessorSpec } from '../../workflows/types';
import { documentsDirOf } from '../../src/output-dir/layout';
import { collectDocuments, removePartialDocuments } from './command';
import { boundedBody, excerpt, type ProcessorContext, type ProcessorOutcome } from './context';
import { FailureType } from '../../workflows/failure-types';
import { describeError, loadProcessFunction } from '../../src/processor-modules/load';
import { checkItemFile } from '../../src/source/item-file';

/** Error messages travel through history and reports. */
const MAX_MESSAGE = 1_000;

const bound = (text: string): string => excerpt(text, MAX_MESSAGE);

/** The module's function; a module that cannot be loaded fails the item at once, as ModuleLoadError. */
async function loadModule(file: string, attempt: number): Promise<ProcessFunction> {
  try {
    return await loadProcessFunction(file);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(bound((err as Error).message), FailureType.ModuleLoadError, {
      attempt,
    });
  }
}

function isNonRetryable(err: unknown): err is Error & { type?: unknown } {
  // By name too: a user's module may resolve its own copy of durabatch's sdk.
  return err instanceof NonRetryableError || (err instanceof Error && err.name === 'NonRetryableError');
}

function serialise(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value); // cycles, BigInt: keep a readable excerpt at least
  }
}

export async function runModule(spec: ModuleProcessorSpec, ctx: ProcessorContext): Promise<ProcessorOutcome> {
  const { attempt, item } = ctx;
  const fn = await loadModule(spec.module, attempt);
  if (ctx.signal.aborted) throw ctx.signal.reason;
  // The module reads `item.data.path` itself: it must still be the file staged, inside its directory.
  await checkItemFile(item).catch((err: Error) => {
    throw ApplicationFailure.nonRetryable(err.message, FailureType.InputError, { attempt });
  });

  const documentsDir = documentsDirOf(ctx.outputDir, item.key);
  const before = new Set(await collectDocuments(ctx.outputDir, documentsDir));
  await mkdir(documentsDir, { recursive: true });

  // Our own controller, merged into the function's signal, lets the timeout abort its I/O too.
  const timeoutController = new AbortController();
  const signal = AbortSignal.any([ctx.signal, timeoutController.signal]);
  const userCtx: ProcessContext = {
    batchId: ctx.batchId,
    key: item.key,
    attempt,
    idempotencyKey: ctx.idempotencyKey,
    signal,
    heartbeat: (details?: unknown) => ctx.heartbeat(details),
    progress: (percent: number) => ctx.progress?.(percent),
    lastHeartbeat: ctx.lastHeartbeatDetails,
    log: ctx.log,
    outputDir: ctx.outputDir,
    documentsDir,
    steps: ctx.steps,
  };

  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  // JavaScript cannot be killed. On timeout we stop waiting and abort its signal. On cancellation its
  // signal is aborted and it gets the stop grace to settle (a function that honours the signal ends
  // its work first, so the item's slot is freed only then); one that ignores it is abandoned.
  const stopped = new Promise<never>((_resolve, reject) => {
    if (spec.timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error('timeout'));
        timeoutController.abort(
          new DOMException(`module timed out after ${spec.timeoutMs} ms`, 'TimeoutError'),
        );
      }, spec.timeoutMs);
    }
    onAbort = () => {
      graceTimer = setTimeout(() => {
        ctx.log.warn(
          { key: item.key, graceMs: ctx.stopGraceMs },
          'module ignored the cancellation (ctx.signal) and was abandoned after the grace period',
        );
        reject(new Error('aborted'));
      }, ctx.stopGraceMs);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
  });

  let value: unknown;
  let files: string[];
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  try {
    const running = Promise.resolve().then(() =>
      fn({ key: item.key, index: item.index, line: item.line, data: item.data }, userCtx),
    );
    // A function still running after we stopped waiting may reject later: not an unhandled rejection.
    void running.catch(() => undefined);
    value = await Promise.race([running, stopped]);
    // Settled after a cancellation (even with a value): the item is cancelled, its outputs partial.
    if (ctx.signal.aborted) throw ctx.signal.reason;
  } catch (err) {
    if (ctx.signal.aborted) {
      await removePartialDocuments(ctx.outputDir, documentsDir, before);
      throw ctx.signal.reason;
    }
    ctx.log.debug(
      { module: spec.module, latencyMs: took(), error: timedOut ? 'timeout' : describeError(err) },
      `module ${spec.module} failed after ${took()} ms`,
    );
    if (timedOut) {
      throw ApplicationFailure.retryable(
        `module ${spec.module} did not finish within ${spec.timeoutMs} ms (its signal was aborted)`,
        'ModuleTimeout',
        { attempt, timeoutMs: spec.timeoutMs },
      );
    }
    if (err instanceof ApplicationFailure) throw err; // the author classified it already
    if (isNonRetryable(err)) {
      const type = typeof err.type === 'string' && err.type ? err.type : 'NonRetryableError';
      throw ApplicationFailure.nonRetryable(bound(err.message), type, { attempt });
    }
    // Unexpected errors keep their stack in the worker log; history gets the bounded message.
    ctx.log.warn({ err, key: item.key, attempt }, 'module processor threw');
    const message = err instanceof Error ? err.message : String(err);
    throw ApplicationFailure.retryable(bound(message), 'ModuleError', { attempt });
  } finally {
    clearTimeout(timer);
    clearTimeout(graceTimer);
    if (onAbort) ctx.signal.removeEventListener('abort', onAbort);
    // On failures too, so a batch does not leave an empty folder per item.
    files = await collectDocuments(ctx.outputDir, documentsDir);
  }

  ctx.log.debug(
    { module: spec.module, latencyMs: took(), files: files.length },
    `module ${spec.module} returned in ${took()} ms`,
  );
  const cost = (value as { cost?: unknown } | null | undefined)?.cost;
  let body: unknown;
  try {
    body = boundedBody(value);
  } catch {
    body = undefined; // not JSON-serialisable: it cannot travel through history
  }
  return {
    body,
    output: excerpt(serialise(value)),
    cost: typeof cost === 'number' ? cost : undefined,
    // Only when the function wrote files, so a plain result stays exactly { body, output, cost }.
    ...(files.length > 0 ? { files } : {}),
  };
}

// `retry-failed`: a new batch of exactly the failed items of an ended batch, linked to it both ways.
// The items come from the old batch's staged copy, never from its original file: that file may have
// been edited since, and the retry must send what failed, with the same keys.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type { BatchInput } from '../../workflows/batch';
import type {
  FailurePolicy,
  Item,
  ItemOutcome,
  ItemRetryPolicy,
  Limits,
  StepSpec,
} from '../../workflows/types';
import { appendAudit } from '../audit/audit-log';
import { InputError } from '../errors';
import { readManifest } from '../source/manifest';
import { fingerprintFile, sourceRef, stageSource } from '../source/stage';
import { defaultBatchId, type BatchClient, type StartedBatch } from './batch-client';
import { describeBatch, readBatchInput, requireOutputDir, type BatchMemo } from './batch-records';
import { describeSteps } from './steps';
import { jsonLines } from '../util/json-lines';

/** Key column of a retry file whose old batch keyed items by row number (the new rows are numbered anew). */
export const RETRY_KEY_COLUMN = '_durabatch_key';

export interface RetryOverrides {
  batchId?: string;
  outputDir?: string;
  /** Default: the old batch's task queue. */
  taskQueue?: string;
  /** Replaces or edits the old batch's steps. */
  steps?: (old: StepSpec[]) => StepSpec[] | Promise<StepSpec[]>;
  limits?: Partial<Limits>;
  retry?: Partial<ItemRetryPolicy>;
  failurePolicy?: Partial<FailurePolicy>;
  /** More memo fields for the new batch (the service's label and request hash). */
  memo?: Partial<BatchMemo>;
}

export interface RetryStarted extends StartedBatch {
  retryOf: string;
  /** The JSONL file of the retried rows (the new batch's source). */
  file: string;
  taskQueue: string;
}

async function failedKeys(outputDir: string, batchId: string): Promise<Set<string>> {
  const file = path.join(outputDir, 'results', 'items.jsonl');
  const keys = new Set<string>();
  try {
    for await (const o of jsonLines<ItemOutcome>(file)) if (o.status === 'failed') keys.add(o.key);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new InputError(
      `batch "${batchId}" has no ${file}`,
      'the batch wrote no report (it may have been terminated), or its output directory is on another machine',
    );
  }
  return keys;
}

/** Writes the failed items' rows as JSONL, keyed so the new batch's keys equal the old ones. */
async function writeRetryFile(
  stagedDir: string,
  keys: Set<string>,
  idColumn: string | undefined,
  file: string,
): Promise<number> {
  await mkdir(path.dirname(file), { recursive: true });
  const out = createWriteStream(file);
  // Kept for the end: an unhandled 'error' event would kill the process (a full disk, say).
  let failure: Error | undefined;
  out.on('error', (err) => (failure ??= err));
  let written = 0;
  const missing = new Set(keys);
  try {
    for await (const item of jsonLines<Item>(path.join(stagedDir, 'items.jsonl'))) {
      if (!missing.delete(item.key)) continue;
      // With an id column the rows go out unchanged (the processor sees what it saw); row-number keys
      // would be renumbered, so the old key travels in a column of its own.
      const data = idColumn ? item.data : { ...item.data, [RETRY_KEY_COLUMN]: item.key };
      if (failure) throw failure;
      if (!out.write(JSON.stringify(data) + '\n'))
        await new Promise<void>((r) => {
          out.once('drain', () => r());
          out.once('error', () => r());
        });
      written += 1;
    }
  } finally {
    out.end();
    await finished(out);
  }
  if (missing.size > 0) {
    const some = [...missing].slice(0, 5).join(', ');
    throw new InputError(
      `${missing.size} failed item(s) are not in the batch's staged copy ${stagedDir} (e.g. ${some})`,
      'the staged copy was replaced; retry from results/failed.csv with `durabatch start` instead ' +
        '(keep its _error_type, _error_message and _attempts columns: they mark it as failed.csv, so ' +
        "the `'` that neutralised formula-like cells is removed when it is read)",
    );
  }
  return written;
}

/**
 * Writes the retry rows to `file` without ever rewriting a file already there. Two retries with the
 * same batch id (an Idempotency-Key sent twice, a command run twice) both get here, and the one that
 * loses the start must leave alone the source of the batch that won: rewriting it under that batch's
 * staging, or while it runs, makes its source check pause it as an edited source. The rows go to a
 * private file first and are linked into place only whole; a file already there with the same rows
 * (a concurrent or earlier attempt) is used as it is.
 */
async function publishRetryFile(
  stagedDir: string,
  keys: Set<string>,
  idColumn: string | undefined,
  file: string,
): Promise<void> {
  const own = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeRetryFile(stagedDir, keys, idColumn, own);
    try {
      await link(own, file);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if ((await fingerprintFile(file)) !== (await fingerprintFile(own)))
      throw new InputError(
        `${file} already exists with other rows than the failed items of this batch`,
        'choose another output directory (or batch id); remove that file only if no batch runs from it',
      );
  } finally {
    await rm(own, { force: true });
  }
}

export async function startRetryFailed(
  client: BatchClient,
  oldId: string,
  overrides: RetryOverrides = {},
): Promise<RetryStarted> {
  const desc = await describeBatch(client, oldId);
  if (desc.status.name === 'RUNNING') {
    throw new InputError(
      `batch "${oldId}" is still running: its failed items are known once it ends`,
      `wait with \`durabatch watch ${oldId}\` (or cancel it), then retry`,
    );
  }
  const oldOutputDir = requireOutputDir(oldId, desc);
  const keys = await failedKeys(oldOutputDir, oldId);
  if (keys.size === 0) {
    throw new InputError(
      `batch "${oldId}" has no failed items: nothing to retry`,
      `see \`durabatch report ${oldId}\``,
    );
  }
  const input = await readBatchInput(client, oldId);
  // Settings first: a bad override is refused before any file is written.
  const steps = overrides.steps ? await overrides.steps(input.steps) : input.steps;
  const manifest = await readManifest(input.source.dir).catch(() => {
    throw new InputError(
      `the staged copy of batch "${oldId}" is gone (${input.source.dir})`,
      `start a new batch from ${path.join(oldOutputDir, 'results', 'failed.csv')} (the failed rows) instead; ` +
        "keep its _error_* and _attempts columns, which mark it as failed.csv so the `'` that neutralised " +
        'formula-like cells is removed when it is read',
    );
  });

  const batchId = overrides.batchId ?? defaultBatchId(`${oldId}-retry`);
  const outputDir = path.resolve(overrides.outputDir ?? path.join('output', batchId));
  const file = path.join(outputDir, `retry-of-${oldId}.jsonl`);
  const idColumn = manifest.idColumn;
  await publishRetryFile(input.source.dir, keys, idColumn, file);
  const staged = await stageSource(file, {
    home: client.opts.home,
    format: 'jsonl',
    idColumn: idColumn ?? RETRY_KEY_COLUMN,
    // A directory batch's items keep their files (an upload of them can be retried).
    ...(manifest.format === 'dir'
      ? { directoryOf: { root: manifest.originalPath, followsLinks: manifest.followSymlinks } }
      : {}),
  });
  const source = sourceRef(staged);

  const limits: Limits = { ...input.limits, ...overrides.limits };
  const taskQueue = overrides.taskQueue ?? desc.taskQueue;
  const { carried: _carried, ...settings } = input;
  const newInput: BatchInput = {
    ...settings,
    batchId,
    source,
    steps,
    limits,
    retry: { ...input.retry, ...overrides.retry },
    failurePolicy: { ...input.failurePolicy, ...overrides.failurePolicy },
    outputDir,
    webUiUrl: client.webUiUrl(batchId) ?? undefined,
  };
  const handle = await client.startInput(newInput, {
    taskQueue,
    memo: { ...overrides.memo, source: file, outputDir, total: source.total, retryOf: oldId },
    summary: `durabatch: retry of ${source.total} failed items of ${oldId} → ${describeSteps(steps)}`,
    details: [`**retry of** ${oldId} (its ${source.total} failed items, same keys)`, `**source** ${file}`],
    audit: { source: file, total: source.total, retryOf: oldId },
  });
  await appendAudit(oldOutputDir, {
    // The service's client names the caller's token, here as in the new batch's own log.
    ...client.opts.auditFields,
    action: 'retry-failed',
    batchId: oldId,
    args: { newBatchId: batchId, items: source.total },
    result: batchId,
  });
  return {
    batchId,
    total: source.total,
    outputDir,
    webUiUrl: client.webUiUrl(batchId),
    itemsUrl: client.itemsUrl(batchId),
    handle,
    invalid: staged.invalid,
    problems: staged.problems,
    warnings: staged.warnings,
    retryOf: oldId,
    file,
    taskQueue,
  };
}

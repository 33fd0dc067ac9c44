// Staging: a source is parsed once, normalised to JSON lines under DURABATCH_HOME with an index of
// byte offsets, and identified by a fingerprint of its content and of every option that changes the
// items. Workers then read any page by seeking, without re-parsing the original; an identical earlier
// staging is reused; and the manifest lets a later check notice an original edited mid-batch.
import { createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { StagedSourceRef } from '../../workflows/types';
import { InputError } from '../errors';
import { identifySource, STAGE_FORMAT, type IdentityOptions } from './fingerprint';
import { ItemBuilder } from './items';
import { KeyRegistry } from './keys';
import { isWithin } from './formats/directory';
import { readSource, resolveSource } from './read-source';
import { Selection, type SelectionSpec } from './select';
import { keepSourceCopy } from './source-copy';
import type { SourceFormat, SourceRecord } from './types';
import { compileItemSchema } from './validate';

export { fingerprintFile } from './fingerprint';

/**
 * A raw or multipart upload sends each item's file, and only a directory source's items have one: a
 * `path` column of a CSV or JSON source would otherwise choose any file on the worker to send.
 */
async function refuseFilesWithoutDirectory(sourcePath: string, opts: StageOptions): Promise<void> {
  const { abs, format } = await resolveSource(sourcePath, opts.format);
  if (format === 'dir') return;
  throw new InputError(
    `${opts.filesFor} sends each item's file, but ${abs} is a ${format} source: only a directory ` +
      'source (--format dir) gives items files. A "path" field of a row is data, never a file the ' +
      'worker reads and sends',
    'give a directory as the source, or send the rows as JSON (--body-mode json, or bodyMode "json" in the step)',
  );
}

/** A retried directory item keeps its directory's mark when its `path` is still inside it. */
function markedFile(rec: SourceRecord, dir: { root: string; followsLinks?: boolean }): SourceRecord {
  const file = rec.data.path;
  if (typeof file !== 'string' || !isWithin(path.resolve(dir.root), path.resolve(file))) return rec;
  return dir.followsLinks ? { ...rec, within: dir.root, followsLinks: true } : { ...rec, within: dir.root };
}
import { readManifest, type StagedManifest, type StagedSelection } from './manifest';

/** Items per index entry: a page read seeks to the nearest entry and skips at most this many lines. */
export const INDEX_STRIDE = 100;
/** Problems listed by --strict, and kept in the manifest. */
const MAX_PROBLEMS = 20;
const MAX_WARNINGS = 50;

export interface StageOptions extends Omit<IdentityOptions, 'onWarning' | 'selection'> {
  /** Which rows become items (default: all). */
  select?: SelectionSpec;
  /** DURABATCH_HOME: staged copies go to `<home>/staged/<fingerprint>`. */
  home: string;
  /** Refuse the source if any row is invalid, instead of staging invalid rows as skipped items. */
  strict?: boolean;
  /**
   * The settings that send each item's file (`http.bodyMode raw`, a step's `multipart`): only a
   * directory source has files, so any other format is refused before anything is staged.
   */
  filesFor?: string;
  /**
   * Internal (retry-failed): the rows are items of this directory, written back from its staged
   * copy; a row whose `path` lies inside it keeps the directory's mark, so its file can be sent again.
   */
  directoryOf?: { root: string; followsLinks?: boolean };
}

/** A staged source: the reference workers use, plus what the caller should tell the user. */
export interface StagedSource extends StagedSourceRef {
  format: SourceFormat;
  /** Items staged as invalid (they become `skipped`). */
  invalid: number;
  /** The first invalid rows' reasons. */
  problems: string[];
  /** Non-fatal findings to print (e.g. metadata rows naming no file). */
  warnings: string[];
  /** Set when a selection (rows, keys, where, limit) chose the items. */
  selection?: StagedSelection;
}

/** The part of a staged source that goes into workflow inputs (kept small: it travels with every page read). */
export function sourceRef(staged: StagedSourceRef): StagedSourceRef {
  return {
    dir: staged.dir,
    fingerprint: staged.fingerprint,
    originalPath: staged.originalPath,
    total: staged.total,
  };
}

function strictError(file: string, invalid: number, problems: string[]): InputError {
  const first = invalid > problems.length ? ` (the first ${problems.length})` : '';
  return new InputError(
    `${file}: ${invalid} invalid row${invalid === 1 ? '' : 's'}${first}:\n  ${problems.join('\n  ')}`,
    'fix these rows, or run without --strict to skip invalid rows (they are reported as skipped)',
  );
}

/** Why a source gave no items ("source X …"), and what to do, by format. */
function emptySource(format: SourceFormat, size: number, glob?: string): [string, string] {
  if (format === 'dir')
    return [`has no files${glob ? ` matching "${glob}"` : ''}`, 'check the directory and --glob'];
  const check = ' (or check that this is the file you meant)';
  const [why, hint]: [string, string] =
    size === 0
      ? ['the file is empty (0 bytes)', 'write the items into it']
      : format === 'csv'
        ? ['no rows below the header (or only blank lines)', 'add rows below the header']
        : format === 'xlsx'
          ? [
              'the sheet has no rows below its header',
              'add rows below the header, or pick the sheet with --sheet',
            ]
          : format === 'jsonl'
            ? ['only blank lines', 'write one JSON object per line']
            : ['the array is empty', 'put one object per item in the array'];
  return [`has no items: ${why}`, hint + check];
}

/** Once `out` takes writes again, or has failed: a failed stream never emits 'drain'. */
function drainedOrFailed(out: Writable): Promise<void> {
  if (out.errored || out.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}

/** Stages a source (or reuses an identical earlier staging) and returns its reference. */
export async function stageSource(sourcePath: string, opts: StageOptions): Promise<StagedSource> {
  if (opts.filesFor !== undefined && !opts.directoryOf) await refuseFilesWithoutDirectory(sourcePath, opts);
  const selection = opts.select ? await Selection.from(opts.select) : undefined;
  const id = await identifySource(sourcePath, { ...opts, selection: selection?.identity });
  const abs = id.source.abs;
  const dir = path.join(opts.home, 'staged', id.fingerprint.slice(0, 24));
  const existing = await readManifest(dir).catch(() => undefined);
  if (existing?.fingerprint === id.fingerprint) {
    // --strict is not part of the identity: a reused staging answers it from its manifest.
    if (opts.strict && existing.invalid > 0) throw strictError(abs, existing.invalid, existing.problems);
    const { invalid, problems, warnings, format } = existing;
    return {
      dir,
      fingerprint: id.fingerprint,
      originalPath: abs,
      total: existing.total,
      format,
      invalid,
      problems,
      warnings,
      selection: existing.selection,
    };
  }

  // A private temporary folder per call: two batches staging identical content at once must not
  // write into (or delete) each other's copy.
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  const itemsFile = path.join(tmp, 'items.jsonl');
  const out = createWriteStream(itemsFile);
  // Read from out.errored in the loop: an 'error' event with no listener would end the process.
  out.on('error', () => undefined);
  const idColumn = opts.idColumn ?? (id.source.format === 'dir' ? (opts.columns?.file ?? 'file') : undefined);
  const builder = new ItemBuilder({
    file: abs,
    format: id.source.format,
    idColumn,
    validate: compileItemSchema(opts.schema),
  });
  const keys = new KeyRegistry();
  const offsets: number[] = [];
  const problems: string[] = [];
  const warnings: string[] = [];
  let dropped = 0;
  const onWarning = (m: string) => (warnings.length < MAX_WARNINGS ? warnings.push(m) : (dropped += 1));
  let bytes = 0;
  let total = 0;
  let invalid = 0;
  const abandon = async () => {
    // The staging copy is abandoned: a write still queued may fail on the destroyed stream.
    out.on('error', () => undefined);
    out.destroy();
    await rm(tmp, { recursive: true, force: true });
  };
  try {
    for await (const rec of readSource(
      abs,
      { ...opts, format: id.source.format, onWarning },
      { listing: id.listing },
    )) {
      if (selection && !selection.takesRow(rec.line, rec.data, rec.error !== undefined)) continue;
      const item = builder.build(opts.directoryOf ? markedFile(rec, opts.directoryOf) : rec, total);
      if (selection && !selection.takesKey(item.key)) continue;
      keys.add(item.key);
      if (item.invalid !== undefined) {
        invalid += 1;
        if (problems.length < MAX_PROBLEMS) problems.push(item.invalid);
      }
      if (total % INDEX_STRIDE === 0) offsets.push(bytes);
      const line = item.json + '\n';
      bytes += Buffer.byteLength(line);
      total += 1;
      if (!out.write(line)) await drainedOrFailed(out);
      if (out.errored) throw out.errored;
      if (selection?.done) break; // the limit is reached: the rest of the source is not read
    }
    out.end();
    await finished(out);
    await keepSourceCopy(id.source.format, abs, tmp, id.contentHash);
  } catch (err) {
    await abandon();
    throw err;
  }
  const duplicates = await keys.duplicates(itemsFile, MAX_PROBLEMS);
  if (duplicates.total > 0) {
    await abandon();
    const more = duplicates.total > duplicates.messages.length ? ` (${duplicates.total} in all)` : '';
    throw new InputError(
      `duplicate keys in ${abs}: ${duplicates.messages.join('; ')}${more}`,
      idColumn
        ? `make column "${idColumn}" unique, or choose another --id-column`
        : 'choose a unique --id-column',
    );
  }
  if (total === 0 && selection) {
    await abandon();
    throw new InputError(
      `the selection (${selection.describe()}) matches none of the ${selection.read} rows of ${abs}`,
      'check the row numbers, keys and conditions against the source (`durabatch plan` shows what a selection takes)',
    );
  }
  const missing = selection?.missingKeys() ?? [];
  if (missing.length > 0) {
    onWarning(
      `--keys: ${missing.length} key${missing.length === 1 ? '' : 's'} not among the selected rows: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`,
    );
  }
  if (total === 0) {
    await abandon();
    // A batch of nothing is almost always the wrong file or a failed export: refuse it, saying so.
    const [what, hint] = emptySource(id.source.format, id.source.size, opts.glob);
    throw new InputError(`source ${abs} ${what}`, hint);
  }
  if (opts.strict && invalid > 0) {
    await abandon();
    throw strictError(abs, invalid, problems);
  }
  if (dropped > 0) warnings.push(`… and ${dropped} more warning${dropped === 1 ? '' : 's'}`);
  const manifest: StagedManifest = {
    version: STAGE_FORMAT,
    originalPath: abs,
    fingerprint: id.fingerprint,
    format: id.source.format,
    kind: id.source.format === 'dir' ? 'dir' : 'file',
    total,
    columns: builder.columns,
    size: id.source.size,
    mtimeMs: id.source.mtimeMs,
    contentHash: id.contentHash,
    glob: id.source.format === 'dir' ? opts.glob : undefined,
    followSymlinks: id.source.format === 'dir' && opts.followSymlinks === true ? true : undefined,
    metadata: id.metadata,
    idColumn,
    invalid,
    problems,
    warnings,
    stagedAt: new Date().toISOString(),
    selection: selection && {
      description: selection.describe(),
      read: selection.read,
      stoppedAtLimit: selection.done,
    },
  };
  await writeFile(path.join(tmp, 'index.json'), JSON.stringify({ stride: INDEX_STRIDE, offsets }));
  await writeFile(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2));
  await publishStaging(tmp, dir, id.fingerprint);
  return {
    dir,
    fingerprint: id.fingerprint,
    originalPath: abs,
    total,
    format: manifest.format,
    invalid,
    problems,
    warnings,
    selection: manifest.selection,
  };
}

/**
 * Moves a finished staging into place. If an identical staging got there first (same fingerprint),
 * it is kept, since a running batch may be reading it; a stale or broken one is replaced.
 */
async function publishStaging(tmp: string, dir: string, fingerprint: string): Promise<void> {
  try {
    await rename(tmp, dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  const existing = await readManifest(dir).catch(() => undefined);
  if (existing?.fingerprint === fingerprint) {
    await rm(tmp, { recursive: true, force: true });
    return;
  }
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

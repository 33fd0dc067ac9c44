// What identifies a staged source: the content (for a directory, its listing) plus every option that
// changes the items. Two stagings with the same fingerprint would produce the same items.jsonl, so
// the earlier one is reused.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { InputError } from '../errors';
import { listDirectory, type DirListing } from './formats/directory';
import { csvDelimiter, resolveSource, type ResolvedSource } from './read-source';
import type { ReadSourceOptions } from './types';
import type { ItemSchemaSpec } from './validate';

/** Bumped whenever staging's output for the same input changes, so old staged copies are not reused. */
export const STAGE_FORMAT = 5;

export async function fingerprintFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** JSON with sorted object keys: equal settings give equal text whatever their order in a config file. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export interface FileStamp {
  path: string;
  size: number;
  mtimeMs: number;
  /** sha256 of the content. */
  contentHash: string;
}

export async function stampFile(file: string): Promise<FileStamp> {
  const st = await stat(file);
  return { path: file, size: st.size, mtimeMs: st.mtimeMs, contentHash: await fingerprintFile(file) };
}

export interface IdentityOptions extends ReadSourceOptions {
  idColumn?: string;
  schema?: ItemSchemaSpec;
  /** Which rows become items (Selection.identity); part of the identity. */
  selection?: unknown;
}

export interface SourceIdentity {
  source: ResolvedSource;
  /** sha256 of the file, or of the directory listing. */
  contentHash: string;
  listing?: DirListing;
  metadata?: FileStamp;
  fingerprint: string;
}

export async function identifySource(file: string, opts: IdentityOptions): Promise<SourceIdentity> {
  const source = await resolveSource(file, opts.format);
  // Options that cannot apply to this source are mistakes worth saying, not silently ignoring.
  const misplaced = [
    source.format !== 'dir' && opts.glob !== undefined && '--glob',
    source.format !== 'dir' && opts.metadata !== undefined && '--metadata',
    source.format !== 'xlsx' && opts.sheet !== undefined && '--sheet',
    source.format !== 'dir' && opts.followSymlinks === true && '--follow-symlinks',
    source.format !== 'csv' &&
      !(source.format === 'dir' && opts.metadata) &&
      opts.delimiter !== undefined &&
      '--delimiter',
  ].filter((f): f is string => typeof f === 'string');
  if (misplaced.length > 0) {
    throw new InputError(
      `${misplaced.join(', ')} cannot apply to ${source.abs}, a ${source.format === 'dir' ? 'directory' : `${source.format} file`}`,
      'remove it, or name the right --format',
    );
  }
  let contentHash: string;
  let listing: DirListing | undefined;
  let metadata: FileStamp | undefined;
  if (source.format === 'dir') {
    if (opts.metadata) metadata = await stampFile((await resolveSource(opts.metadata)).abs);
    listing = await listDirectory(source.abs, {
      glob: opts.glob,
      exclude: metadata ? [metadata.path] : [],
      followSymlinks: opts.followSymlinks,
    });
    contentHash = listing.hash;
  } else {
    contentHash = await fingerprintFile(source.abs);
  }
  // Only options that change the items; limits, processor settings and --strict do not.
  const settings = {
    stage: STAGE_FORMAT,
    content: contentHash,
    format: source.format,
    delimiter:
      source.format === 'csv'
        ? csvDelimiter(source.abs, opts.delimiter)
        : metadata
          ? opts.delimiter
          : undefined,
    // Directory items carry absolute paths: an identical listing elsewhere is another source.
    root: source.format === 'dir' ? source.abs : undefined,
    sheet: opts.sheet,
    columns: opts.columns,
    idColumn: opts.idColumn,
    schema: opts.schema,
    glob: source.format === 'dir' ? opts.glob : undefined,
    followSymlinks: source.format === 'dir' && opts.followSymlinks === true ? true : undefined,
    metadata: metadata?.contentHash,
    metadataKey: metadata ? opts.metadataKey : undefined,
    selection: opts.selection,
  };
  const fingerprint = createHash('sha256').update(canonicalJson(settings)).digest('hex');
  return { source, contentHash, listing, metadata, fingerprint };
}

// A directory as a source: one item per file, optionally joined with a metadata file keyed by file
// name. The listing (relative paths, sizes, mtimes) is what identifies the source, so it is computed
// once, sorted for a stable order, and hashed for the staging fingerprint and later change checks.
import { createHash } from 'node:crypto';
import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { InputError } from '../../errors';
import { plainText, type SourceRecord } from '../types';

export interface ListedFile {
  /** Relative path with `/` separators. */
  rel: string;
  size: number;
  mtimeMs: number;
  /**
   * Set for a symbolic link resolving outside the directory (not followed without followSymlinks):
   * the file becomes an invalid item naming the link, and is never read.
   */
  outside?: true;
}

export interface DirListing {
  root: string;
  glob?: string;
  files: ListedFile[];
  /** sha256 of the listing: changes when a file is added, removed, resized or touched. */
  hash: string;
  /** Links to files outside the directory are read (--follow-symlinks); otherwise refused. */
  followSymlinks?: boolean;
}

export interface ListOptions {
  glob?: string;
  /** Files never listed (the metadata file, when it lives inside the directory). */
  exclude?: string[];
  /** Read links to files outside the directory too (default: such links are refused, per file). */
  followSymlinks?: boolean;
}

/** Whether `target` is `dir` or lies below it (both already real paths). */
export function isWithin(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

export async function listDirectory(root: string, opts: ListOptions = {}): Promise<DirListing> {
  const match = opts.glob ? picomatch(opts.glob, { dot: false }) : undefined;
  const exclude = new Set((opts.exclude ?? []).map((f) => path.resolve(f)));
  const files: ListedFile[] = [];
  // Links are judged by where they really lead, against the directory's own real path.
  const realRoot = await realpath(root).catch(() => root);
  const walk = async (dir: string, relDir: string): Promise<void> => {
    for await (const entry of await opendir(dir)) {
      // Without a glob, hidden entries (.git, .DS_Store) are not items; a glob decides for itself.
      if (!match && entry.name.startsWith('.')) continue;
      const abs = path.join(dir, entry.name);
      const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        await walk(abs, rel);
        continue;
      }
      // Links to files are followed; links to directories are not (they could loop). A link that
      // leads out of the directory (`/etc/passwd`, a key) is listed as refused unless followSymlinks:
      // a folder handed to durabatch must not make a worker read files from anywhere.
      const st = entry.isFile()
        ? await stat(abs)
        : entry.isSymbolicLink()
          ? await stat(abs).catch(() => undefined)
          : undefined;
      if (!st?.isFile() || exclude.has(abs) || (match && !match(rel))) continue;
      if (entry.isSymbolicLink() && !opts.followSymlinks) {
        const target = await realpath(abs).catch(() => undefined);
        if (target === undefined || !isWithin(realRoot, target)) {
          const link = await lstat(abs);
          files.push({ rel, size: 0, mtimeMs: link.mtimeMs, outside: true });
          continue;
        }
      }
      files.push({ rel, size: st.size, mtimeMs: st.mtimeMs });
    }
  };
  await walk(root, '').catch((err: NodeJS.ErrnoException) => {
    throw new InputError(
      `cannot list directory ${root}: ${err.code ?? err.message}${err.path ? ` (${err.path})` : ''}`,
      'check its permissions',
    );
  });
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.rel}\0${f.size}\0${f.mtimeMs}${f.outside ? '\0outside' : ''}\n`);
  return { root, glob: opts.glob, files, hash: hash.digest('hex'), followSymlinks: opts.followSymlinks };
}

interface MetadataRow {
  line: number;
  data: Record<string, unknown>;
  used: boolean;
}

export interface MetadataOptions {
  file: string;
  /** Column naming the file. Default `file`. */
  key?: string;
  read: (file: string) => AsyncIterable<SourceRecord>;
  onWarning: (message: string) => void;
}

const normaliseName = (name: string) => name.trim().replace(/\\/g, '/').replace(/^\.\//, '');

async function loadMetadata(opts: MetadataOptions, keyColumn: string): Promise<Map<string, MetadataRow>> {
  const rows = new Map<string, MetadataRow>();
  const duplicates: string[] = [];
  let checked = false;
  for await (const rec of opts.read(opts.file)) {
    if (rec.error) {
      opts.onWarning(`metadata ${opts.file}: ${rec.error}; row ignored`);
      continue;
    }
    if (!checked && !(keyColumn in rec.data)) {
      throw new InputError(
        `metadata ${opts.file}: no column "${keyColumn}" naming the files`,
        `use one of: ${Object.keys(rec.data).join(', ')} (--metadata-key COLUMN)`,
      );
    }
    checked = true;
    const name = normaliseName(plainText(rec.data[keyColumn]));
    if (name === '') {
      opts.onWarning(`metadata ${opts.file}: line ${rec.line}: column "${keyColumn}" is empty; row ignored`);
      continue;
    }
    const first = rows.get(name);
    if (first) {
      if (duplicates.length < 20)
        duplicates.push(`"${name}" on line ${rec.line} (first on line ${first.line})`);
      continue;
    }
    rows.set(name, { line: rec.line, data: rec.data, used: false });
  }
  if (duplicates.length > 0) {
    throw new InputError(
      `metadata ${opts.file} names a file twice: ${duplicates.join('; ')}`,
      'keep one row per file',
    );
  }
  return rows;
}

const RESERVED = new Set(['file', 'path', 'size']);

/** One record per listed file: `{ file, path, size, ...metadata }`. */
export async function* readDirectory(
  listing: DirListing,
  metadata?: MetadataOptions,
): AsyncGenerator<SourceRecord> {
  const keyColumn = metadata?.key ?? 'file';
  const rows = metadata ? await loadMetadata(metadata, keyColumn) : new Map<string, MetadataRow>();
  const byBase = new Map<string, number>();
  for (const f of listing.files)
    byBase.set(path.posix.basename(f.rel), (byBase.get(path.posix.basename(f.rel)) ?? 0) + 1);
  const warned = new Set<string>();
  const warnOnce = (msg: string) => {
    if (!warned.has(msg)) metadata?.onWarning(msg);
    warned.add(msg);
  };
  let line = 0;
  for (const f of listing.files) {
    line += 1;
    if (f.outside) {
      yield {
        line,
        data: { file: f.rel },
        error:
          `file "${f.rel}" is a symbolic link leading outside ${listing.root}; it is not read ` +
          '(links inside the directory are; --follow-symlinks reads links to anywhere on the worker)',
      };
      continue;
    }
    const base = path.posix.basename(f.rel);
    let row = rows.get(f.rel);
    if (!row && rows.has(base)) {
      // A bare file name names a file only when no other listed file has the same name.
      if ((byBase.get(base) ?? 0) > 1) {
        warnOnce(`metadata ${metadata?.file}: "${base}" matches several files; name them by relative path`);
        rows.get(base)!.used = true; // reported once above, not again as naming no file
      } else {
        row = rows.get(base);
      }
    }
    const data: Record<string, unknown> = { file: f.rel, path: path.join(listing.root, f.rel), size: f.size };
    if (row) {
      row.used = true;
      for (const [k, v] of Object.entries(row.data)) {
        if (k === keyColumn) continue;
        if (RESERVED.has(k))
          warnOnce(`metadata ${metadata?.file}: column "${k}" is reserved for the file's own ${k}; ignored`);
        else data[k] = v;
      }
    }
    // Workers check again before reading: the file could be swapped for a link after staging.
    yield listing.followSymlinks
      ? { line, data, within: listing.root, followsLinks: true }
      : { line, data, within: listing.root };
  }
  for (const [name, row] of rows) {
    const matching = listing.glob ? ` matching "${listing.glob}"` : '';
    if (!row.used)
      metadata?.onWarning(
        `metadata ${metadata.file}: line ${row.line}: no file "${name}" in ${listing.root}${matching}`,
      );
  }
}

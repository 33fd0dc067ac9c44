// The results archive of a batch: results/, documents/ and audit/ of its output directory as one ZIP,
// outputs of items that did not succeed under failed/. `durabatch report --zip` writes it to a file;
// the service streams the same entries to its client, built on the fly.
import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ZipFile } from 'yazl';
import { jsonLines } from '../util/json-lines';
import { safeKey } from './layout';

/** Folders of the output directory that go into the archive, in this order. */
const ARCHIVED = ['results', 'documents', 'audit'];

/** Skipped in the archive: the raw result pages (items.jsonl holds all of them) and half-written temporaries. */
const skipped = (rel: string) => rel.startsWith('results/pages/') || /\.tmp-[^/]*$/.test(rel);

async function* walk(dir: string): AsyncGenerator<string> {
  const handle = await opendir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return;
  // Sorted, so the archive lists entries in the same order every time. Links are not followed:
  // only regular files the batch wrote go in.
  const entries: { name: string; dir: boolean; file: boolean }[] = [];
  for await (const e of handle) entries.push({ name: e.name, dir: e.isDirectory(), file: e.isFile() });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.dir) yield* walk(full);
    else if (e.file) yield full;
  }
}

/** documents/ folder names of items whose outcome is not `succeeded` (from results/items.jsonl). */
async function unsucceededFolders(outputDir: string): Promise<Set<string>> {
  const folders = new Set<string>();
  const items = path.join(outputDir, 'results', 'items.jsonl');
  const exists = await stat(items).then(
    () => true,
    () => false,
  );
  if (!exists) return folders;
  for await (const o of jsonLines<{ key: string; status: string }>(items)) {
    if (o.status !== 'succeeded') folders.add(safeKey(o.key));
  }
  return folders;
}

export interface ArchiveEntry {
  /** The file on disk. */
  file: string;
  /** Its name in the archive (`/`-separated, relative). */
  name: string;
  /** An output of an item that did not succeed (listed under failed/). */
  failed: boolean;
}

/**
 * The archive's entries, in archive order; `exclude` (an absolute path) is left out, so an archive
 * written inside the output directory does not contain itself.
 */
export async function archiveEntries(outputDir: string, exclude?: string): Promise<ArchiveEntry[]> {
  const notSucceeded = await unsucceededFolders(outputDir);
  const out: ArchiveEntry[] = [];
  for (const folder of ARCHIVED) {
    for await (const file of walk(path.join(outputDir, folder))) {
      const rel = path.relative(outputDir, file).split(path.sep).join('/');
      if (skipped(rel) || (exclude !== undefined && path.resolve(file) === exclude)) continue;
      const failed = folder === 'documents' && notSucceeded.has(rel.split('/')[1] ?? '');
      out.push({ file, name: failed ? `failed/${rel}` : rel, failed });
    }
  }
  return out;
}

/**
 * Adds the entries to `zip` and ends it. yazl reads one file at a time when its output is consumed
 * and writes ZIP64 when needed, so neither the number nor the size of documents is bounded by memory.
 */
export function fillArchive(zip: ZipFile, entries: readonly ArchiveEntry[]): void {
  for (const e of entries) zip.addFile(e.file, e.name);
  zip.end();
}

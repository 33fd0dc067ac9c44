// Detects an original source changed after it was staged, so a batch never silently mixes two
// versions of its input. A file is checked with a cheap stat first and hashed only when its size or
// mtime moved (a `touch` or a copy back of the same bytes is not a change). A directory is re-listed,
// at most every DIR_CHECK_INTERVAL_MS per process, since that costs a stat per file.
import { stat } from 'node:fs/promises';
import type { StagedSourceRef } from '../../workflows/types';
import { SourceChangedError } from '../errors';
import { fingerprintFile, type FileStamp } from './fingerprint';
import { listDirectory } from './formats/directory';
import { readManifest, type StagedManifest } from './manifest';

export const DIR_CHECK_INTERVAL_MS = 10_000;

/** Per file path: the last stat whose content was verified to equal the staged hash. */
const verifiedStats = new Map<string, { size: number; mtimeMs: number; hash: string }>();
const manifests = new Map<string, StagedManifest>();
const dirCheckedAt = new Map<string, number>();
/** One check at a time per staged source: concurrent page reads share it. */
const inFlight = new Map<string, Promise<void>>();

async function checkFile(
  file: string,
  expected: Pick<FileStamp, 'size' | 'mtimeMs' | 'contentHash'>,
  what: string,
): Promise<void> {
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) {
    throw new SourceChangedError(
      `${what} ${file} was removed or replaced since the batch staged it; the batch will not read a different input`,
    );
  }
  if (st.size === expected.size && st.mtimeMs === expected.mtimeMs) return;
  const known = verifiedStats.get(file);
  if (known && known.hash === expected.contentHash && known.size === st.size && known.mtimeMs === st.mtimeMs)
    return;
  const hash = await fingerprintFile(file);
  if (hash !== expected.contentHash) {
    throw new SourceChangedError(
      `${what} ${file} changed since the batch staged it (size/mtime and content differ from the staged copy); ` +
        'start a new batch to process the new version',
    );
  }
  verifiedStats.set(file, { size: st.size, mtimeMs: st.mtimeMs, hash });
}

async function check(source: StagedSourceRef): Promise<void> {
  const manifest = manifests.get(source.dir) ?? (await readManifest(source.dir).catch(() => undefined));
  if (manifest?.fingerprint !== source.fingerprint) {
    throw new SourceChangedError(
      `the staged copy of ${source.originalPath} in ${source.dir} is missing or differs from the one this batch started with`,
    );
  }
  manifests.set(source.dir, manifest);
  // Stagings made before content hashes were recorded cannot be checked.
  if (!manifest.contentHash) return;
  if (manifest.kind !== 'dir') {
    await checkFile(source.originalPath, manifest, 'source');
    return;
  }
  const last = dirCheckedAt.get(source.dir);
  if (last !== undefined && Date.now() - last < DIR_CHECK_INTERVAL_MS) return;
  if (manifest.metadata) await checkFile(manifest.metadata.path, manifest.metadata, 'metadata file');
  const listing = await listDirectory(source.originalPath, {
    glob: manifest.glob,
    exclude: manifest.metadata ? [manifest.metadata.path] : [],
    followSymlinks: manifest.followSymlinks,
  }).catch(() => undefined);
  if (listing?.hash !== manifest.contentHash) {
    throw new SourceChangedError(
      `source directory ${source.originalPath} changed since the batch staged it (files added, removed or modified); ` +
        'start a new batch to process the new contents',
    );
  }
  dirCheckedAt.set(source.dir, Date.now());
}

/** Throws SourceChangedError (naming the original path) if the source differs from its staged copy. */
export async function checkSourceUnchanged(source: StagedSourceRef): Promise<void> {
  const running = inFlight.get(source.dir);
  if (running) return running;
  const p = check(source).finally(() => inFlight.delete(source.dir));
  inFlight.set(source.dir, p);
  return p;
}

// A staging's manifest (manifest.json beside items.jsonl): what was staged, from which original,
// with which options and findings; read by workers, the source-change check and the report.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { STAGE_FORMAT, type FileStamp } from './fingerprint';
import type { SourceFormat } from './types';

export interface StagedManifest {
  version: typeof STAGE_FORMAT;
  originalPath: string;
  fingerprint: string;
  format: SourceFormat;
  kind: 'file' | 'dir';
  total: number;
  columns: string[];
  /** The original's size and mtime when staged (a directory's own, for information). */
  size: number;
  mtimeMs: number;
  /** sha256 of the original file, or of the directory listing. */
  contentHash: string;
  /** Directory sources: the glob and metadata file, to recompute the listing when checking for changes. */
  glob?: string;
  metadata?: FileStamp;
  /** Directory sources staged with --follow-symlinks (the listing depends on it). */
  followSymlinks?: boolean;
  idColumn?: string;
  invalid: number;
  problems: string[];
  warnings: string[];
  stagedAt: string;
  /** When only some rows became items: which, and how many rows the source has. */
  selection?: StagedSelection;
}

export interface StagedSelection {
  /** e.g. `rows 10-200, where country=FR`. */
  description: string;
  /** Rows read from the source (all of them, unless a limit stopped the reading early). */
  read: number;
  /** Whether a limit stopped the reading before the end of the source. */
  stoppedAtLimit: boolean;
}

export async function readManifest(dir: string): Promise<StagedManifest> {
  return JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as StagedManifest;
}

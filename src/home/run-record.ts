// What makes `durabatch run` resumable: running the same command again after a crash (the process,
// its worker and even its embedded server killed) must continue the same batch, not start a second
// one that would process every item again. Each `run` records, under DURABATCH_HOME/runs/, which
// batch it started for this exact source file and settings, and on which server. The record is kept
// after the batch ends (marked finished): running the command again shows that batch's summary
// instead of sending every item again; `--new` starts another batch on purpose.
import { createHash } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { BatchProgress } from '../../workflows/types';
import type { Config } from '../config/schema';
import { listDirectory } from '../source/formats/directory';
import { readJsonFile, writeJsonAtomic } from './json-file';
import type { ServerIdentity } from '../server/server-identity';

export interface RunRecord {
  batchId: string;
  taskQueue: string;
  outputDir: string;
  source: string;
  startedAt: string;
  /**
   * The server and namespace the batch was started on: a resume against another server must be
   * refused, not turned into a second batch. Absent in records of older versions (and when the
   * server does not tell its identity): then no check is made.
   */
  server?: ServerIdentity;
  /** When `run` saw the batch end, and how it ended (absent while it runs, or in older records). */
  finishedAt?: string;
  status?: string;
  /**
   * The batch's final progress (status, counts, latency, output directory) as `run` saw it end: a
   * re-run shows it without Temporal, whose history of the batch may be gone (namespace retention).
   */
  final?: BatchProgress;
}

/** Size and modification time of a file: an edited file is another source. */
async function fileStamp(file: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  const st = await stat(file).catch(() => undefined);
  return st?.isFile() ? { size: st.size, mtimeMs: st.mtimeMs } : undefined;
}

/**
 * Identifies "the same command": the source with its size and modification time (an edited file is
 * a new batch) and every setting. A directory's identity is its listing as staging sees it (names,
 * sizes, mtimes of the files the glob selects, hashed), and its metadata file's stamp: a file added,
 * removed or touched makes a new batch, so it is processed instead of "already ended". Secrets never
 * reach the file: only the hash is stored.
 */
export async function runKey(source: string, config: Config): Promise<string> {
  const abs = path.resolve(source);
  const st = await stat(abs).catch(() => undefined);
  const metadata = config.metadata ? path.resolve(config.metadata) : undefined;
  const id = st?.isFile()
    ? { size: st.size, mtimeMs: st.mtimeMs }
    : st?.isDirectory()
      ? {
          // Unreadable now: staging says why; the key just differs from any readable listing.
          listing: await listDirectory(abs, {
            glob: config.glob,
            exclude: metadata ? [metadata] : [],
            followSymlinks: config.followSymlinks,
          })
            .then((l) => l.hash)
            .catch(() => 'unreadable'),
          metadata: metadata ? ((await fileStamp(metadata)) ?? 'missing') : undefined,
        }
      : {};
  return createHash('sha256')
    .update(JSON.stringify({ source: abs, ...id, config }))
    .digest('hex')
    .slice(0, 32);
}

const recordPath = (home: string, key: string) => path.join(home, 'runs', `${key}.json`);

/** The record, or undefined when there is none (or it cannot be read: then the run starts afresh). */
export function readRunRecord(home: string, key: string): Promise<RunRecord | undefined> {
  return readJsonFile<RunRecord>(recordPath(home, key));
}

export async function writeRunRecord(home: string, key: string, record: RunRecord): Promise<void> {
  await writeJsonAtomic(recordPath(home, key), record);
}

export async function removeRunRecord(home: string, key: string): Promise<void> {
  await rm(recordPath(home, key), { force: true });
}

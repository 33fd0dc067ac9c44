// What makes `durabatch run` resumable: running the same command again after a crash (the process,
// its worker and even its embedded server killed) must continue the same batch, not start a second
// one that would process every item again. Each `run` records, under DURABATCH_HOME/runs/, which
// batch it started for this exact source file and settings, and on which server. The record is kept
// after the batch ends (marked finished): running the command again shows that batch's summary
// instead of sending every item again; `--new` starts another batch on purpose.
import { createHash } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/schema';
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
}

/**
 * Identifies "the same command": the source path with its size and modification time (an edited
 * file is a new batch) and every setting. Secrets never reach the file: only the hash is stored.
 */
export async function runKey(source: string, config: Config): Promise<string> {
  const abs = path.resolve(source);
  const st = await stat(abs).catch(() => undefined);
  const fileId = st?.isFile() ? { size: st.size, mtimeMs: st.mtimeMs } : {};
  return createHash('sha256')
    .update(JSON.stringify({ source: abs, ...fileId, config }))
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

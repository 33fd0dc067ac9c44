// What makes `durabatch run` resumable: running the same command again after a crash (the process,
// its worker and even its embedded server killed) must continue the same batch, not start a second
// one that would process every item again. Each `run` records, under DURABATCH_HOME/runs/, which
// batch it started for this exact source file and settings.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/schema';

export interface RunRecord {
  batchId: string;
  taskQueue: string;
  outputDir: string;
  source: string;
  startedAt: string;
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

export async function readRunRecord(home: string, key: string): Promise<RunRecord | undefined> {
  const text = await readFile(recordPath(home, key), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as RunRecord;
  } catch {
    return undefined; // a torn write from a killed process: treat as no record
  }
}

/** Written atomically (temp file + rename), so a kill at any moment leaves the old or the new record. */
export async function writeRunRecord(home: string, key: string, record: RunRecord): Promise<void> {
  const file = recordPath(home, key);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2));
  await rename(tmp, file);
}

export async function removeRunRecord(home: string, key: string): Promise<void> {
  await rm(recordPath(home, key), { force: true });
}

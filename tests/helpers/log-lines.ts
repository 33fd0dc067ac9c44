// The JSON lines of a batch's own log, output/<batchId>/logs/worker.jsonl.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface LogLine {
  level: number;
  time: string;
  pid: number;
  msg: string;
  batchId?: string;
  itemKey?: string;
  op?: string;
  event?: string;
  [field: string]: unknown;
}

export const TRACE = 10;
export const DEBUG = 20;
export const INFO = 30;

export async function batchLogLines(outputDir: string): Promise<LogLine[]> {
  const text = await readFile(path.join(outputDir, 'logs', 'worker.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LogLine);
}

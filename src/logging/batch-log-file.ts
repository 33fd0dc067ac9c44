// A batch's own log, `<outputDir>/logs/worker.jsonl`: next to its results whichever process wrote
// the lines (`run`'s worker, a separate `durabatch worker`, the client that started the batch).
// Free of pino, so the client can write the batch's start line without loading it.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function batchLogFile(outputDir: string): string {
  return path.resolve(outputDir, 'logs', 'worker.jsonl');
}

/** A file closed after this long without a line, so a long-lived worker holds no descriptor per batch. */
const IDLE_CLOSE_MS = 30_000;
/** After a failed write, lines are dropped for this long before the file is tried again. */
const RETRY_AFTER_MS = 30_000;

/**
 * An append-only JSON-lines destination (a pino stream). Only `logs/` is created, never the output
 * directory itself: a worker that cannot see the batch's storage must not make a folder nobody
 * reads (see shared-storage.ts). A line that cannot be written is dropped, never thrown into the
 * activity that logged it; `onError` hears of the first failure of each spell.
 */
export class AppendFile {
  private fd: number | undefined;
  private lastWrite = 0;
  private failedAt = 0;
  private idle: NodeJS.Timeout | undefined;

  constructor(
    readonly file: string,
    private readonly onError: (err: Error) => void = () => undefined,
    /** Create every missing folder of the path (a worker's own log file), not just `logs/`. */
    private readonly mkdirParents = false,
  ) {}

  write(line: string): void {
    const now = Date.now();
    if (this.failedAt && now - this.failedAt < RETRY_AFTER_MS) return;
    try {
      if (this.fd === undefined) this.open();
      writeSync(this.fd!, line);
      this.lastWrite = now;
      this.failedAt = 0;
    } catch (err) {
      if (!this.failedAt) this.onError(err as Error);
      this.failedAt = now;
      this.close();
    }
  }

  close(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // already closed: nothing to release
    }
  }

  private open(): void {
    try {
      mkdirSync(path.dirname(this.file), { recursive: this.mkdirParents });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.fd = openSync(this.file, 'a');
    this.lastWrite = Date.now();
    this.armIdleClose();
  }

  private armIdleClose(): void {
    this.idle = setTimeout(() => {
      if (Date.now() - this.lastWrite >= IDLE_CLOSE_MS) this.close();
      else this.armIdleClose();
    }, IDLE_CLOSE_MS);
    this.idle.unref();
  }
}

const PINO_LEVELS = { info: 30, warn: 40 } as const;

/**
 * Appends one line in pino's format (level, ISO time, pid, hostname, fields, msg) to the batch's log,
 * for a process that has no logger of the batch: the client that starts it. Best effort: the batch
 * is already started, so a line that cannot be written is not an error.
 */
export function appendBatchLogLine(
  outputDir: string,
  fields: Record<string, unknown> & { batchId: string },
  msg: string,
  level: keyof typeof PINO_LEVELS = 'info',
): void {
  const file = new AppendFile(batchLogFile(outputDir));
  const line = { level: PINO_LEVELS[level], time: new Date().toISOString(), pid: process.pid };
  file.write(JSON.stringify({ ...line, hostname: os.hostname(), ...fields, msg }) + '\n');
  file.close();
}

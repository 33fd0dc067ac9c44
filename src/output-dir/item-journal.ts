// The item journal, `<outputDir>/logs/items.jsonl`: what the workers saw of each item while it ran,
// which the parent workflow does not record: an attempt started (`started` for an item's first,
// `retrying` for a later one), an attempt failed (its error, for the `retrying` that follows), and
// progress a processor reported. Appended by the step activity on any worker (one O_APPEND write
// per line, so concurrent writers never split a line on a local or a POSIX-append file system);
// read by the service (items view, events stream), whose byte offsets into it are stable cursors.
import path from 'node:path';

export function itemJournalFile(outputDir: string): string {
  return path.resolve(outputDir, 'logs', 'items.jsonl');
}

interface JournalBase {
  key: string;
  index: number;
  attempt: number;
  /** The pipeline step (pipelines only). */
  step?: string;
  at: string;
}

export type JournalEntry =
  | (JournalBase & { state: 'started' | 'retrying' })
  | (JournalBase & { state: 'attempt-failed'; error: string; errorType: string })
  | (JournalBase & { state: 'progress'; percent: number });

/** Longest error message kept in a line: lines stay far below what one append writes whole. */
export const MAX_JOURNAL_ERROR = 300;

const STATES = new Set(['started', 'retrying', 'attempt-failed', 'progress']);

/** A line's entry, or undefined for a line that is not one (torn, or written by something else). */
export function parseJournalLine(line: string): JournalEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  const count = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (typeof e.key !== 'string' || !count(e.index) || !count(e.attempt) || typeof e.at !== 'string')
    return undefined;
  if (typeof e.state !== 'string' || !STATES.has(e.state)) return undefined;
  if (e.step !== undefined && typeof e.step !== 'string') return undefined;
  if (e.state === 'progress' && !(typeof e.percent === 'number' && e.percent >= 0 && e.percent <= 100))
    return undefined;
  if (e.state === 'attempt-failed' && (typeof e.error !== 'string' || typeof e.errorType !== 'string'))
    return undefined;
  return e as unknown as JournalEntry;
}

/**
 * The percent a command reports on a line of its stderr: `durabatch-progress: 42` (a number from 0
 * to 100, decimals and a trailing `%` allowed, spaces around ignored); undefined for any other line.
 */
export function commandProgressLine(line: string): number | undefined {
  const m = /^\s*durabatch-progress:\s*(\d{1,3}(?:\.\d+)?)\s*%?\s*$/.exec(line);
  if (!m) return undefined;
  const p = Number(m[1]);
  return p <= 100 ? p : undefined;
}

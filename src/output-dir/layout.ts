// Where a batch's files lie in its output directory. Written once here, below both the activities
// that write them and the commands that read them (`report`, `verify`), so both agree on every name.
import { createHash } from 'node:crypto';
import path from 'node:path';

export function resultsDir(outputDir: string): string {
  return path.join(outputDir, 'results');
}

export function pagesDir(outputDir: string): string {
  return path.join(outputDir, 'results', 'pages');
}

/** One page of item outcomes, numbered by the workflow: `results/pages/page-000042.jsonl`. */
export function pageFile(outputDir: string, page: number): string {
  return path.join(pagesDir(outputDir), `page-${String(page).padStart(6, '0')}.jsonl`);
}

/** The item's documents folder: `<outputDir>/documents/<safe key>`, absolute. */
export function documentsDirOf(outputDir: string, key: string): string {
  return path.resolve(outputDir, 'documents', safeKey(key));
}

/** Longest key kept as its own folder name; longer keys are cut here and get a hash suffix. */
const MAX_PLAIN_KEY = 100;

/**
 * The per-item document folder name: one path segment, unique per key, readable. A key made of
 * `A-Z a-z 0-9 . _ -` that does not start with `.` and has at most 100 characters is used as-is;
 * any other key is cleaned (runs of other characters become `_`, leading dots become `_`, cut to
 * 100 characters) and gets `~` plus the first 16 hex digits of the sha256 of the original key
 * (UTF-8), so `a b`, `a/b` and `a_b` stay apart. `~` never appears in a kept key, so a cleaned
 * name cannot equal one; 64 bits of hash keep even a million keys with the same cleaned prefix
 * apart. Names are ASCII and at most 117 bytes.
 */
export function safeKey(key: string): string {
  const cleaned = key
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^\.+/, '_')
    .slice(0, MAX_PLAIN_KEY);
  if (cleaned === key && key !== '') return key;
  const hash = createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16);
  return `${cleaned || '_'}~${hash}`;
}

// What the service reads of a batch besides its queries: its output directory (the memo) and its
// staged source (its input), both fixed for the batch's life, so kept per process once read. The
// result pages and item journal inside the output directory are read with bounds (a line that is
// not an outcome is skipped, never trusted).
import { open, readFile } from 'node:fs/promises';
import type { ItemOutcome, StagedSourceRef } from '../../../workflows/types';
import type { BatchClient } from '../../client/batch-client';
import { memoOutputDir, readBatchInput } from '../../client/batch-records';
import { pageFile } from '../../output-dir/layout';
import { itemJournalFile, parseJournalLine, type JournalEntry } from '../../output-dir/item-journal';
import { readManifest } from '../../source/manifest';
import { readStagedPage } from '../../source/page-reader';
import { describeOr404 } from '../batch-lookup';
import { ApiProblem } from '../problem';
import { requireInsideRoots } from '../storage-roots';

export interface BatchFiles {
  batchId: string;
  outputDir: string;
  source: StagedSourceRef;
}

const known = new Map<string, Promise<BatchFiles>>();
const MAX_KNOWN = 1_000;

/**
 * The batch's files; 404 for an unknown batch, 409 for a workflow durabatch did not start, 403 when
 * its output or staged source lies outside the service's storage `roots`.
 */
export function batchFiles(
  client: BatchClient,
  batchId: string,
  roots: readonly string[],
): Promise<BatchFiles> {
  let found = known.get(batchId);
  if (!found) {
    found = (async () => {
      const desc = await describeOr404(client, batchId);
      const outputDir = memoOutputDir(desc);
      if (outputDir === undefined)
        throw new ApiProblem(
          409,
          'Not a batch',
          `workflow "${batchId}" has no output directory in its memo: durabatch did not start it`,
          'use the id of a batch (GET /v1/batches)',
        );
      await requireInsideRoots(roots, batchId, outputDir, 'output directory');
      const input = await readBatchInput(client, batchId);
      await requireInsideRoots(roots, batchId, input.source.dir, 'staged source');
      // The item count sizes the per-item arrays the service keeps (items/item-states.ts): it is
      // taken from the staging on disk, never from the batch's input alone, which anyone who
      // reaches Temporal writes.
      const staged = await readManifest(input.source.dir).catch(() => undefined);
      if (staged?.total !== input.source.total || !Number.isSafeInteger(staged.total) || staged.total < 0)
        throw new ApiProblem(
          409,
          'Not a batch',
          `batch "${batchId}" names ${String(input.source.total).slice(0, 40)} items, but its staged source ${staged ? `holds ${staged.total}` : 'has no manifest'}: durabatch did not start it so`,
          'use the id of a batch started by durabatch (GET /v1/batches)',
        );
      return { batchId, outputDir, source: input.source };
    })();
    if (known.size >= MAX_KNOWN) known.delete(known.keys().next().value!);
    known.set(batchId, found);
    found.catch(() => known.delete(batchId));
  }
  return found;
}

/** A result page's outcomes in order; undefined when the page is not on disk (yet). */
export async function readResultPage(outputDir: string, page: number): Promise<ItemOutcome[] | undefined> {
  let text: string;
  try {
    text = await readFile(pageFile(outputDir, page), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const out: ItemOutcome[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as ItemOutcome);
    } catch {
      // Pages are written whole (atomic rename): a line that does not parse is not an outcome.
    }
  }
  return out;
}

/** Journal entries read from `offset`, each with the offset just after its line. */
export interface JournalChunk {
  entries: { entry: JournalEntry; end: number }[];
  /** Where the next read starts: after the last complete line read. */
  next: number;
  /** True when the read reached the end of what is on disk. */
  atEnd: boolean;
}

/** Complete lines of the item journal from `offset`, at most `maxBytes` of them. */
export async function readJournal(
  outputDir: string,
  offset: number,
  maxBytes = 256 * 1024,
): Promise<JournalChunk> {
  let fh;
  try {
    fh = await open(itemJournalFile(outputDir), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], next: offset, atEnd: true };
    throw err;
  }
  try {
    // Sized to what is there: an idle stream's round allocates nothing.
    const size = Math.min(maxBytes, Math.max(0, (await fh.stat()).size - offset));
    if (size === 0) return { entries: [], next: offset, atEnd: true };
    const buf = Buffer.allocUnsafe(size);
    const { bytesRead } = await fh.read(buf, 0, size, offset);
    const entries: JournalChunk['entries'] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0 || nl >= bytesRead) break;
      const entry = parseJournalLine(buf.toString('utf8', start, nl));
      if (entry) entries.push({ entry, end: offset + nl + 1 });
      start = nl + 1;
    }
    // A line longer than the whole read cannot be ours: skip it rather than stall on it.
    if (start === 0 && bytesRead === maxBytes) start = bytesRead;
    return { entries, next: offset + start, atEnd: size < maxBytes };
  } finally {
    await fh.close();
  }
}

/** Keys of the items at `indexes` (ascending) from the staged source, reading runs of neighbours at once. */
export async function stagedKeys(files: BatchFiles, indexes: number[]): Promise<Map<number, string>> {
  const keys = new Map<number, string>();
  let i = 0;
  while (i < indexes.length) {
    const first = indexes[i]!;
    let last = first;
    // Neighbours close enough are read in one pass rather than one seek each.
    while (i + 1 < indexes.length && indexes[i + 1]! - last <= 32) last = indexes[++i]!;
    i++;
    for (const item of await readStagedPage(files.source, first, last - first + 1))
      keys.set(item.index, item.key);
  }
  return keys;
}

// The columns of failed.csv. The staged manifest lists at most the first 1,000 field names it meets
// (it is read by every report and workbook; a JSONL source whose rows vary could otherwise make it
// unbounded), so a failed row with fields past that cap lost them in failed.csv — the file meant to be
// fixed and fed back. The failed rows themselves are the authority: every field they hold is a column.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Item } from '../../workflows/types';

/**
 * The manifest's columns, then every other field any failed row holds, in the order met. Reads the
 * staged items.jsonl (in index order, one item per non-blank line) and parses only failed rows.
 */
export async function failedRowColumns(
  itemsFile: string,
  manifestColumns: readonly string[],
  isFailed: (index: number) => boolean,
  failedCount: number,
): Promise<string[]> {
  const columns = [...manifestColumns];
  if (failedCount === 0) return columns;
  const known = new Set(columns);
  const rl = createInterface({ input: createReadStream(itemsFile), crlfDelay: Infinity });
  let index = 0;
  let left = failedCount;
  for await (const line of rl) {
    if (!line.trim()) continue;
    if (isFailed(index)) {
      const item = JSON.parse(line) as Item;
      for (const k of Object.keys(item.data))
        if (!known.has(k)) {
          known.add(k);
          columns.push(k);
        }
      if (--left === 0) break;
    }
    index += 1;
  }
  rl.close();
  return columns;
}

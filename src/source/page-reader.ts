// Reads one page of a staged source by seeking to the nearest indexed offset: O(page), not O(file).
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Item, StagedSourceRef } from '../../workflows/types';
import { SourceChangedError } from '../errors';
import { readManifest } from './manifest';

interface StagedIndex {
  stride: number;
  offsets: number[];
}

const indexCache = new Map<string, StagedIndex>();

/**
 * Most bytes of items in one page. A page is an activity result, and its items become child-workflow
 * inputs started in one workflow task: rows of up to MAX_ROW_BYTES (256 KB) each would make a page of
 * 100 items 25 MB, far over Temporal's 2 MB payload limit. A page ends before the item that would take
 * it over this size (it always holds at least one item); the batch reads on from there. Passed by the
 * readPage activity.
 */
export const MAX_PAGE_BYTES = 512 * 1024;

async function loadIndex(source: StagedSourceRef): Promise<StagedIndex> {
  const cached = indexCache.get(source.dir);
  if (cached) return cached;
  const manifest = await readManifest(source.dir).catch(() => undefined);
  if (manifest?.fingerprint !== source.fingerprint) {
    throw new SourceChangedError(
      `the staged copy of ${source.originalPath} in ${source.dir} is missing or differs from the one this batch started with`,
    );
  }
  const index = JSON.parse(await readFile(path.join(source.dir, 'index.json'), 'utf8')) as StagedIndex;
  indexCache.set(source.dir, index);
  return index;
}

/** Reads up to `limit` items from `offset`; with `maxBytes`, fewer if they would take the page over it (never none). */
export async function readStagedPage(
  source: StagedSourceRef,
  offset: number,
  limit: number,
  maxBytes = Infinity,
): Promise<Item[]> {
  if (offset >= source.total || limit <= 0) return [];
  const index = await loadIndex(source);
  const slot = Math.floor(offset / index.stride);
  let skip = offset - slot * index.stride;
  const fh = await open(path.join(source.dir, 'items.jsonl'), 'r');
  try {
    const items: Item[] = [];
    let pageBytes = 0;
    let pos = index.offsets[slot] ?? 0;
    let carry = '';
    const buf = Buffer.alloc(256 * 1024);
    // A read may end inside a multi-byte character; the decoder holds the partial bytes back.
    const decoder = new StringDecoder('utf8');
    let full = false;
    while (items.length < limit && !full) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const lines = (carry + decoder.write(buf.subarray(0, bytesRead))).split('\n');
      carry = lines.pop() ?? '';
      for (const line of lines) {
        if (skip > 0) {
          skip -= 1;
          continue;
        }
        const size = Buffer.byteLength(line);
        if (items.length > 0 && pageBytes + size > maxBytes) {
          full = true;
          break;
        }
        pageBytes += size;
        items.push(JSON.parse(line) as Item);
        if (items.length >= limit) break;
      }
    }
    return items;
  } finally {
    await fh.close();
  }
}

/** Finds an item by key with one streaming pass over the staged copy (used for rare operator actions). */
export async function findStagedItem(source: StagedSourceRef, key: string): Promise<Item | undefined> {
  await loadIndex(source); // verifies the staged copy is the batch's own
  const needle = `"key":${JSON.stringify(key)},`;
  const rl = createInterface({
    input: createReadStream(path.join(source.dir, 'items.jsonl')),
    crlfDelay: Infinity,
  });
  try {
    for await (const line of rl) {
      if (line.includes(needle)) {
        const item = JSON.parse(line) as Item;
        if (item.key === key) return item;
      }
    }
    return undefined;
  } finally {
    rl.close();
  }
}

// A page of a batch's items in index order, optionally of some states only: the state arrays pick
// the items, then only their rows are read (the staged source for keys of items not started, the
// result pages for details of ended ones). Item states are kept per batch for a while, so paging
// through a large batch reads each result page and journal byte once.
import type { ItemOutcome } from '../../../workflows/types';
import { readStagedPage } from '../../source/page-reader';
import type { BatchFiles } from '../events/batch-files';
import type { BatchSnapshots } from '../events/batch-snapshots';
import { ItemStates, type ItemState } from './item-states';

export interface ItemRow {
  key: string;
  index: number;
  state: ItemState;
  attempts: number;
  latencyMs?: number;
  error?: string;
  errorType?: string;
  startedAt?: string;
  endedAt?: string;
  progress?: number;
  /** Files the item produced, relative to the batch's output directory. */
  outputFiles: string[];
}

export interface ItemPage {
  items: ItemRow[];
  nextCursor: string | null;
}

const views = new Map<string, ItemStates>();
const MAX_VIEWS = 20;
const IDLE_MS = 10 * 60_000;

function statesOf(files: BatchFiles): ItemStates {
  const now = Date.now();
  for (const [id, v] of views) if (now - v.usedAt > IDLE_MS) views.delete(id);
  let v = views.get(files.batchId);
  if (!v) {
    if (views.size >= MAX_VIEWS) {
      const oldest = [...views.entries()].sort((a, b) => a[1].usedAt - b[1].usedAt)[0]!;
      views.delete(oldest[0]);
    }
    v = new ItemStates(files, files.source.total);
    views.set(files.batchId, v);
  }
  return v;
}

/** Items from index `from` on, at most `limit`, of the states in `only` (all when empty). */
export async function listItems(
  files: BatchFiles,
  snapshots: BatchSnapshots,
  query: { from: number; limit: number; only: ReadonlySet<ItemState> },
): Promise<ItemPage> {
  const states = statesOf(files);
  await states.refresh(await snapshots.get(files.batchId, states.firstUnread));

  const picked: { index: number; state: ItemState }[] = [];
  let next: number | null = null;
  for (let i = query.from; i < states.total; i++) {
    const state = states.stateOf(i);
    if (query.only.size > 0 && !query.only.has(state)) continue;
    if (picked.length === query.limit) {
      next = i;
      break;
    }
    picked.push({ index: i, state });
  }

  const pages = new Map<number, Promise<ItemOutcome[] | undefined>>();
  // Ended items carry their key in their outcome; only the others are looked up in the source.
  const keys = await keysOf(
    files,
    picked.filter((p) => !states.hasOutcome(p.index)).map((p) => p.index),
  );
  const items = await Promise.all(
    picked.map(async ({ index, state }): Promise<ItemRow> => {
      const o = await states.outcomeOf(index, pages);
      const info = states.attemptInfo(index);
      if (o) {
        return {
          key: o.key,
          index,
          state: o.status,
          attempts: o.attempts,
          latencyMs: o.latencyMs,
          ...(o.errorMessage !== undefined ? { error: o.errorMessage } : {}),
          ...(o.errorType !== undefined ? { errorType: o.errorType } : {}),
          startedAt: o.startedAt,
          endedAt: o.endedAt,
          ...(o.status === 'succeeded'
            ? { progress: 100 }
            : info.progress !== undefined
              ? { progress: info.progress }
              : {}),
          outputFiles: o.files ?? [],
        };
      }
      return {
        key: keys.get(index) ?? '',
        index,
        state,
        attempts: info.attempts,
        ...(state === 'retrying' && info.error
          ? { error: info.error.error, errorType: info.error.errorType }
          : {}),
        ...(info.startedAt !== undefined ? { startedAt: info.startedAt } : {}),
        ...(info.progress !== undefined ? { progress: info.progress } : {}),
        outputFiles: [],
      };
    }),
  );
  return { items, nextCursor: next === null ? null : String(next) };
}

/** Keys of the items at `indexes` (ascending) from the staged source, reading runs of neighbours at once. */
async function keysOf(files: BatchFiles, indexes: number[]): Promise<Map<number, string>> {
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

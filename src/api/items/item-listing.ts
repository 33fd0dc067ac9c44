// A page of a batch's items in index order, optionally of some states only: the state arrays pick
// the items, then only their rows are read (the staged source for keys of items not started, the
// result pages for details of ended ones).
import type { ItemOutcome } from '../../../workflows/types';
import { stagedKeys, type BatchFiles } from '../events/batch-files';
import type { BatchSnapshots } from '../events/batch-snapshots';
import { itemStatesOf, type ItemState } from './item-states';

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

/** Items from index `from` on, at most `limit`, of the states in `only` (all when empty). */
export async function listItems(
  files: BatchFiles,
  snapshots: BatchSnapshots,
  query: { from: number; limit: number; only: ReadonlySet<ItemState> },
): Promise<ItemPage> {
  const states = itemStatesOf(files);
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
  const keys = await stagedKeys(
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

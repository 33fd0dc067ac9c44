// The worker's side of the directory source's link rule: staging refused links leading out of the
// directory, but a file can be replaced by such a link after staging (or between attempts). Before
// a processor reads or hands over an item's file, its real path is checked against the directory's.
import { realpath } from 'node:fs/promises';
import type { Item } from '../../workflows/types';
import { isWithin } from './formats/directory';

/** The item's file now leads outside its source directory: it is not read (the item fails). */
export class FileOutsideSourceError extends Error {
  override name = 'FileOutsideSourceError';
}

/**
 * Throws FileOutsideSourceError when the item's file (`data.path`) resolves outside the directory it
 * was staged from. Items of other sources, or staged with --follow-symlinks, have no `within`: no
 * check. A file that no longer exists is left to the processor, which reports it as missing.
 */
export async function checkItemFile(item: Item): Promise<void> {
  const file = item.data.path;
  if (item.within === undefined || typeof file !== 'string') return;
  const real = await realpath(file).catch(() => undefined);
  if (real === undefined) return;
  const root = await realpath(item.within).catch(() => item.within!);
  if (isWithin(root, real)) return;
  throw new FileOutsideSourceError(
    `file "${typeof item.data.file === 'string' ? item.data.file : file}" now resolves outside the source directory ${item.within} ` +
      '(it was replaced by a link after staging); it is not read. Replace it with the real file and ' +
      'retry the item, or stage with --follow-symlinks if links out of the directory are intended',
  );
}

// The worker's side of the directory source's file rules. Only an item staged from a directory has a
// file a processor may read on its own (a raw or multipart upload): a `path` field of a CSV or JSON
// row is data, and sending the file it names would let a source read anything on the worker
// (`id,path` / `1,/home/svc/.ssh/id_rsa`). And staging refused links leading out of the directory,
// but a file can be replaced by such a link after staging (or between attempts): before a processor
// reads or hands over an item's file, its real path is checked against the directory's.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Item } from '../../workflows/types';
import { isWithin } from './formats/directory';

/** The item's file now leads outside its source directory: it is not read (the item fails). */
export class FileOutsideSourceError extends Error {
  override name = 'FileOutsideSourceError';
}

/** The item has no file staged from a directory, so nothing of the worker's disk is read for it. */
export class NotAStagedFileError extends Error {
  override name = 'NotAStagedFileError';
}

const fileOf = (item: Item, file: string) => (typeof item.data.file === 'string' ? item.data.file : file);

/**
 * Throws FileOutsideSourceError when the item's file (`data.path`) resolves outside the directory it
 * was staged from. Items of other sources have no `within`: nothing to check (their `path` is data,
 * which only a program the user named reads). With --follow-symlinks, links may lead anywhere, but
 * `path` itself must still name a file in the directory. A file that no longer exists is left to
 * the processor, which reports it as missing.
 */
export async function checkItemFile(item: Item): Promise<void> {
  const file = item.data.path;
  if (item.within === undefined || typeof file !== 'string') return;
  if (!isWithin(path.resolve(item.within), path.resolve(file))) {
    throw new FileOutsideSourceError(
      `item "${item.key}": its "path" ${file} is not in the source directory ${item.within} it was staged from ` +
        '(a columns mapping or metadata cannot choose the file); it is not read',
    );
  }
  if (item.followsLinks) return;
  const real = await realpath(file).catch(() => undefined);
  if (real === undefined) return;
  const root = await realpath(item.within).catch(() => item.within!);
  if (isWithin(root, real)) return;
  throw new FileOutsideSourceError(
    `file "${fileOf(item, file)}" now resolves outside the source directory ${item.within} ` +
      '(it was replaced by a link after staging); it is not read. Replace it with the real file and ' +
      'retry the item, or stage with --follow-symlinks if links out of the directory are intended',
  );
}

/**
 * The file a raw or multipart upload sends: only the file of an item staged from a directory (and
 * still inside it, per checkItemFile). Any other item is refused (NotAStagedFileError), whatever its
 * `path` field says.
 */
export async function stagedItemFile(item: Item, what: string): Promise<string> {
  const file = item.data.path;
  if (item.within === undefined || typeof file !== 'string' || file === '') {
    throw new NotAStagedFileError(
      `item "${item.key}" has no file staged from a directory source, so ${what} has nothing to send: ` +
        'only a directory source (--format dir) gives items a file, and a "path" field of a CSV, JSON ' +
        'or XLSX row is data, never a file the worker reads. Use a directory source, or send the row as ' +
        'JSON (--body-mode json)',
    );
  }
  await checkItemFile(item);
  return file;
}

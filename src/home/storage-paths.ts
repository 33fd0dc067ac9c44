// Whether a directory a batch names lies inside a process's storage roots, symlinks resolved: the
// check workers make before touching a batch's files (activities/storage-roots.ts) and the service
// makes before reading them (src/api/storage-roots.ts).
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { ANY } from '../worker/allow-settings';

/**
 * The real path of `p`: its nearest existing ancestor resolved (symlinks followed), the rest
 * appended. A path not created yet (an output directory made by a later write) still resolves to
 * where its writes would land.
 */
async function realPathOf(p: string): Promise<string> {
  let head = p;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(head), ...tail);
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return p;
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
}

const inside = (dir: string, root: string) => {
  const rel = path.relative(root, dir);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/**
 * Why `dir` is refused, or undefined when it lies inside one of `roots`. Refused: a relative path
 * (it would depend on the worker's working directory), a `..` segment (the lexical and the real
 * path would differ through a symlink) and anything whose real path is outside every root's.
 */
export async function storagePathProblem(
  dir: string,
  roots: readonly string[],
  owner = 'this worker',
): Promise<string | undefined> {
  if (roots.includes(ANY)) return undefined;
  if (typeof dir !== 'string' || dir === '' || dir.includes('\0')) return 'is not a path';
  if (!path.isAbsolute(dir)) return 'is not an absolute path';
  if (dir.split(/[\\/]/).includes('..')) return 'climbs with ".."';
  const real = await realPathOf(dir);
  // A real path lexically inside a root is inside its real path too (the root is then a prefix of
  // a resolved path: no symlink in it to resolve), so the roots are resolved only when none
  // contains it as written: one realpath per check instead of one more per root (every item's).
  if (roots.some((root) => inside(real, path.resolve(root)))) return undefined;
  for (const root of roots) {
    if (inside(real, await realPathOf(path.resolve(root)))) return undefined;
  }
  return real === path.resolve(dir)
    ? `is outside ${owner}'s storage roots`
    : `resolves to ${real}, outside ${owner}'s storage roots`;
}

// Where the service reads a batch's files. A batch's output directory (its memo) and staged source
// (its input) are written by whoever started its workflow, and anyone who reaches Temporal can: so,
// like a worker (activities/storage-roots.ts), the service reads files only inside its storage
// roots, or a forged batch would have it serve `<any folder>/documents/*` in an archive.
import path from 'node:path';
import { storagePathProblem } from '../home/storage-paths';
import type { ApiSettings } from '../config/api';
import type { Config } from '../config/schema';
import { defaultStorageRoots } from '../worker/allow-settings';
import { ApiProblem } from './problem';

/** DURABATCH_HOME, ./output, the service's output root and uploads, and `allow.paths`. */
export function serviceStorageRoots(
  settings: Pick<ApiSettings, 'outputRoot'> & { uploadsDir: string },
  home: string,
  allow: Config['allow'],
): string[] {
  return [
    ...defaultStorageRoots(home),
    path.resolve(settings.outputRoot),
    path.resolve(settings.uploadsDir),
    ...(allow?.paths ?? []),
  ];
}

/** A 403 problem unless the batch's `dir` (its `what`) lies inside `roots`. */
export async function requireInsideRoots(
  roots: readonly string[],
  batchId: string,
  dir: string,
  what: string,
): Promise<void> {
  const problem = await storagePathProblem(dir, roots, 'this service');
  if (problem === undefined) return;
  throw new ApiProblem(
    403,
    'Forbidden',
    `batch "${batchId}" keeps its ${what} outside this service's storage roots (${problem})`,
    "if that folder is yours, add it to the service's allow.paths (DURABATCH_ALLOW_PATHS)",
  );
}

// Every file under a directory, read whole: for checks over everything a batch wrote.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export async function readTree(root: string): Promise<{ file: string; bytes: Buffer }[]> {
  const out: { file: string; bytes: Buffer }[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out.push({ file: full, bytes: await readFile(full) });
    }
  };
  await walk(root);
  return out;
}

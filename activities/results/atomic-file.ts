// Atomic file writes: write a temporary file beside the target, then rename. A crash leaves either
// the old file or the new one, never half of one; writing the same content twice is harmless.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function writeFileAtomic(file: string, content: string | Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, content);
    await rename(tmp, file);
  } catch (err) {
    // A write cut short by a full disk must not leave its partial file taking more of the space.
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

// The worker reuses a cached workflow bundle while its sources are unchanged: the cache key must
// change with any workflow source, those in subfolders (workflows/lanes/) included, or a worker would
// run stale workflow code after an upgrade.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sourcesHash } from '../../src/worker/bundle';

describe('the workflow bundle cache key', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('changes when a source in a subfolder changes, not when a non-source file does', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-bundle-key-'));
    dirs.push(dir);
    await mkdir(path.join(dir, 'lanes'));
    await writeFile(path.join(dir, 'batch.ts'), 'export const a = 1;\n');
    await writeFile(path.join(dir, 'lanes', 'lane.ts'), 'export const b = 1;\n');
    const first = await sourcesHash(dir);
    expect(await sourcesHash(dir)).toBe(first);

    await writeFile(path.join(dir, 'lanes', 'notes.md'), 'not a source\n');
    expect(await sourcesHash(dir)).toBe(first);

    await writeFile(path.join(dir, 'lanes', 'lane.ts'), 'export const b = 2;\n');
    const second = await sourcesHash(dir);
    expect(second).not.toBe(first);

    await writeFile(path.join(dir, 'lanes', 'page-lane.ts'), 'export const c = 1;\n');
    expect(await sourcesHash(dir)).not.toBe(second);
  });
});

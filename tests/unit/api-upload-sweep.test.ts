// Upload folders left by a service killed mid-request are removed at the next start; a folder
// still receiving files, or a batch's claimed folder, is never touched.
import { mkdir, mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ABANDONED_UPLOAD_MS, sweepAbandonedUploads } from '../../src/api/uploads';

describe('abandoned upload folders', () => {
  it('removes only incoming folders untouched for a day', async () => {
    const uploads = await mkdtemp(path.join(os.tmpdir(), 'uploads-'));
    const incoming = path.join(uploads, '.incoming');
    const old = path.join(incoming, 'old');
    const busy = path.join(incoming, 'busy');
    await mkdir(path.join(old, 'files'), { recursive: true });
    await mkdir(path.join(busy, 'files'), { recursive: true });
    await mkdir(path.join(uploads, 'batch-1', 'files'), { recursive: true });
    await writeFile(path.join(old, 'files', 'a.pdf'), 'x');
    const dayAgo = new Date(Date.now() - ABANDONED_UPLOAD_MS - 60_000);
    for (const p of [old, path.join(old, 'files'), busy, path.join(uploads, 'batch-1')])
      await utimes(p, dayAgo, dayAgo);
    // The busy request's files folder was written a moment ago.
    expect(await sweepAbandonedUploads(uploads)).toBe(1);
    expect((await readdir(incoming)).sort()).toEqual(['busy']);
    expect((await readdir(uploads)).sort()).toEqual(['.incoming', 'batch-1']);
    expect(await sweepAbandonedUploads(path.join(uploads, 'missing'))).toBe(0);
  });
});

import { appendFile, mkdir, mkdtemp, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SourceChangedError } from '../../src/errors';
import { checkSourceUnchanged } from '../../src/source/source-check';
import { sourceRef, stageSource } from '../../src/source/stage';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sources-change-'));
});

describe('checkSourceUnchanged', () => {
  it('passes an untouched file and a touched one with the same bytes; names an edited file', async () => {
    const src = path.join(dir, 'orders.csv');
    await writeFile(src, 'id,v\n1,a\n2,b\n');
    const staged = sourceRef(await stageSource(src, { home: dir, idColumn: 'id' }));
    await expect(checkSourceUnchanged(staged)).resolves.toBeUndefined();
    const later = new Date(Date.now() + 60_000);
    await utimes(src, later, later);
    await expect(checkSourceUnchanged(staged)).resolves.toBeUndefined();
    await appendFile(src, '3,c\n');
    const err = await checkSourceUnchanged(staged).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceChangedError);
    expect((err as Error).message).toContain(src);
    expect((err as Error).message).toMatch(/changed since the batch staged it/);
  });

  it('notices a file removed from a directory source, and an edited metadata file', async () => {
    const docs = path.join(dir, 'docs');
    await mkdir(docs);
    await writeFile(path.join(docs, 'a.pdf'), 'A');
    await writeFile(path.join(docs, 'b.pdf'), 'B');
    const meta = path.join(dir, 'meta.csv');
    await writeFile(meta, 'file,owner\na.pdf,ann\n');
    const staged = await stageSource(docs, { home: dir, metadata: meta });
    await expect(checkSourceUnchanged(staged)).resolves.toBeUndefined();

    const again = await stageSource(docs, { home: dir, metadata: meta, glob: '*.pdf' });
    await writeFile(path.join(docs, 'c.pdf'), 'C');
    const err = await checkSourceUnchanged(again).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceChangedError);
    expect((err as Error).message).toContain(`source directory ${docs} changed`);

    const third = await stageSource(docs, { home: dir, metadata: meta, glob: '**/*.pdf' });
    await writeFile(meta, 'file,owner\na.pdf,bob\n');
    await expect(checkSourceUnchanged(third)).rejects.toThrow(`metadata file ${meta} changed`);
  });

  it('names a source that was deleted, and a staged copy that does not match the batch', async () => {
    const src = path.join(dir, 'gone.jsonl');
    await writeFile(src, '{"id":1}\n');
    const staged = sourceRef(await stageSource(src, { home: dir }));
    const { rm } = await import('node:fs/promises');
    await rm(src);
    await expect(checkSourceUnchanged(staged)).rejects.toThrow(`source ${src} was removed`);
    await expect(checkSourceUnchanged({ ...staged, fingerprint: 'other' })).rejects.toThrow(
      /staged copy of .*gone\.jsonl/,
    );
  });
});

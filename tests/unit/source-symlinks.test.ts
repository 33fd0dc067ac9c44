// Directory sources and symbolic links: a link leading out of the directory is refused per file at
// staging (an invalid item naming it, never read) unless followSymlinks; links inside are read; and
// a worker re-checks an item's file before reading it, since it can be swapped for a link later.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { checkItemFile, FileOutsideSourceError } from '../../src/source/item-file';
import { readStagedPage } from '../../src/source/page-reader';
import { stageSource } from '../../src/source/stage';

let home: string;
let docs: string;
let secret: string;
beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'source-symlinks-'));
  docs = path.join(home, 'docs');
  await mkdir(path.join(docs, 'sub'), { recursive: true });
  secret = path.join(home, 'secret.key');
  await writeFile(secret, 'TOP-SECRET');
  await writeFile(path.join(docs, 'a.txt'), 'AAAA');
  await symlink(path.join(docs, 'a.txt'), path.join(docs, 'sub', 'inside-link.txt'));
  await symlink(secret, path.join(docs, 'outside-link.txt'));
  await symlink('../../secret.key', path.join(docs, 'sub', 'relative-outside.txt'));
});

describe('directory sources and symbolic links', () => {
  it('refuses links leading outside, one invalid item each naming the link; reads links inside', async () => {
    const staged = await stageSource(docs, { home });
    expect(staged.total).toBe(4);
    expect(staged.invalid).toBe(2);
    const items = new Map((await readStagedPage(staged, 0, 10)).map((i) => [i.key, i]));
    expect(items.get('outside-link.txt')?.invalid).toBe(
      `file "outside-link.txt" is a symbolic link leading outside ${docs}; it is not read ` +
        '(links inside the directory are; --follow-symlinks reads links to anywhere on the worker)',
    );
    expect(items.get('sub/relative-outside.txt')?.invalid).toContain('symbolic link leading outside');
    // Nothing of the target is in the staged item: no path, no size.
    expect(items.get('outside-link.txt')?.data).toEqual({ file: 'outside-link.txt' });
    expect(items.get('sub/inside-link.txt')).toMatchObject({
      data: { file: 'sub/inside-link.txt', size: 4 },
      within: docs,
    });
    expect(items.get('sub/inside-link.txt')?.invalid).toBeUndefined();
    expect(staged.problems).toHaveLength(2);
  });

  it('refuses the whole source with --strict, naming the links', async () => {
    const err = await stageSource(docs, { home, strict: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain('file "outside-link.txt" is a symbolic link leading outside');
  });

  it('reads links to anywhere with followSymlinks (another staging), and items skip the link re-check', async () => {
    const plain = await stageSource(docs, { home });
    const followed = await stageSource(docs, { home, followSymlinks: true });
    expect(followed.fingerprint).not.toBe(plain.fingerprint);
    expect(followed.invalid).toBe(0);
    const items = new Map((await readStagedPage(followed, 0, 10)).map((i) => [i.key, i]));
    expect(items.get('outside-link.txt')).toMatchObject({ data: { size: 'TOP-SECRET'.length } });
    // Still a directory's file (an upload may send it), marked as one whose links may lead anywhere.
    expect(items.get('outside-link.txt')).toMatchObject({ within: docs, followsLinks: true });
    await expect(checkItemFile(items.get('outside-link.txt')!)).resolves.toBeUndefined();
  });

  it('refuses followSymlinks for a source that is not a directory', async () => {
    const csv = path.join(home, 'rows.csv');
    await writeFile(csv, 'id\n1\n');
    await expect(stageSource(csv, { home, followSymlinks: true })).rejects.toThrow(
      /--follow-symlinks cannot apply/,
    );
  });

  it('a worker refuses a file swapped for a link out of the directory after staging', async () => {
    const dir = path.join(home, 'swap');
    await mkdir(dir);
    await writeFile(path.join(dir, 'b.txt'), 'BB');
    const staged = await stageSource(dir, { home });
    const [item] = await readStagedPage(staged, 0, 10);
    await expect(checkItemFile(item!)).resolves.toBeUndefined();
    await rm(path.join(dir, 'b.txt'));
    await symlink(secret, path.join(dir, 'b.txt'));
    const err = await checkItemFile(item!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileOutsideSourceError);
    expect((err as Error).message).toContain(`file "b.txt" now resolves outside the source directory ${dir}`);
    // A link to another file inside the directory is still its file.
    await writeFile(path.join(dir, 'c.txt'), 'CC');
    await rm(path.join(dir, 'b.txt'));
    await symlink(path.join(dir, 'c.txt'), path.join(dir, 'b.txt'));
    await expect(checkItemFile(item!)).resolves.toBeUndefined();
  });
});

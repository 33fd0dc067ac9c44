import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { readStagedPage } from '../../src/source/page-reader';
import { stageSource } from '../../src/source/stage';

let home: string;
let docs: string;
let meta: string;
beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'sources-dir-'));
  docs = path.join(home, 'docs');
  await mkdir(path.join(docs, 'sub', 'deeper'), { recursive: true });
  await mkdir(path.join(docs, '.git'));
  await writeFile(path.join(docs, 'a.pdf'), 'AAAA');
  await writeFile(path.join(docs, 'b.txt'), 'BB');
  await writeFile(path.join(docs, 'sub', 'c.pdf'), 'CCCCCC');
  await writeFile(path.join(docs, 'sub', 'deeper', 'd.pdf'), 'D');
  await writeFile(path.join(docs, '.DS_Store'), 'x');
  await writeFile(path.join(docs, '.git', 'HEAD'), 'ref');
  meta = path.join(home, 'meta.csv');
  await writeFile(
    meta,
    'file,patient_id,kind\na.pdf,P1,scan\nsub/c.pdf,P3,letter\nmissing.pdf,P9,scan\nb.txt,P2,note\n',
  );
});

describe('directory sources', () => {
  it('makes one item per file, keyed by relative path, hidden files left out', async () => {
    const staged = await stageSource(docs, { home });
    expect(staged.format).toBe('dir');
    const items = await readStagedPage(staged, 0, 10);
    expect(items.map((i) => i.key)).toEqual(['a.pdf', 'b.txt', 'sub/c.pdf', 'sub/deeper/d.pdf']);
    expect(items[2]!.data).toEqual({ file: 'sub/c.pdf', path: path.join(docs, 'sub', 'c.pdf'), size: 6 });
    expect(staged.warnings).toEqual([]);
  });

  it('joins metadata by file name and reports mapping rows that name no file', async () => {
    const staged = await stageSource(docs, { home, metadata: meta });
    const items = await readStagedPage(staged, 0, 10);
    expect(items.map((i) => i.data)).toEqual([
      { file: 'a.pdf', path: path.join(docs, 'a.pdf'), size: 4, patient_id: 'P1', kind: 'scan' },
      { file: 'b.txt', path: path.join(docs, 'b.txt'), size: 2, patient_id: 'P2', kind: 'note' },
      { file: 'sub/c.pdf', path: path.join(docs, 'sub', 'c.pdf'), size: 6, patient_id: 'P3', kind: 'letter' },
      // No metadata row: the file is still an item, with empty metadata.
      { file: 'sub/deeper/d.pdf', path: path.join(docs, 'sub', 'deeper', 'd.pdf'), size: 1 },
    ]);
    expect(staged.warnings).toEqual([
      expect.stringMatching(/meta\.csv: line 4: no file "missing\.pdf" in .*docs/),
    ]);
  });

  it('filters by glob, and the id column may come from the metadata', async () => {
    const staged = await stageSource(docs, {
      home,
      glob: '{a.pdf,sub/*.pdf}',
      metadata: meta,
      idColumn: 'patient_id',
    });
    const items = await readStagedPage(staged, 0, 10);
    expect(items.map((i) => [i.key, i.data.file])).toEqual([
      ['P1', 'a.pdf'],
      ['P3', 'sub/c.pdf'],
    ]);
    expect(staged.warnings.join('\n')).toMatch(/no file "b\.txt"/);
    // A file without metadata has no key from it: the source is refused, naming the file.
    await expect(
      stageSource(docs, { home, glob: '**/*.pdf', metadata: meta, idColumn: 'patient_id' }),
    ).rejects.toThrow(/file "sub\/deeper\/d\.pdf": column "patient_id" is empty or missing/);
    // With a schema instead, the file is staged as invalid and will be skipped with the reason.
    const checked = await stageSource(docs, {
      home,
      glob: '**/*.pdf',
      metadata: meta,
      schema: { required: ['patient_id'] },
    });
    expect(checked.invalid).toBe(1);
    expect(checked.problems).toEqual(['file "sub/deeper/d.pdf": field patient_id: is required']);
  });

  it('a JSON metadata file keyed by another column; the metadata file inside the folder is not an item', async () => {
    const inside = path.join(docs, 'index.json');
    await writeFile(inside, JSON.stringify([{ name: 'd.pdf', pages: 3 }]));
    try {
      const staged = await stageSource(docs, { home, metadata: inside, metadataKey: 'name', glob: '**/*' });
      const items = await readStagedPage(staged, 0, 10);
      expect(items.map((i) => i.key)).toEqual(['a.pdf', 'b.txt', 'sub/c.pdf', 'sub/deeper/d.pdf']);
      expect(items[3]!.data).toMatchObject({ file: 'sub/deeper/d.pdf', pages: 3 });
      await expect(stageSource(docs, { home, metadata: inside })).rejects.toThrow(
        /no column "file" naming the files.*use one of: name, pages/s,
      );
    } finally {
      const { rm } = await import('node:fs/promises');
      await rm(inside);
    }
  });

  it('a JSON metadata file may be one object keyed by file name', async () => {
    const keyed = path.join(home, 'keyed.json');
    await writeFile(
      keyed,
      '\uFEFF{\n  "a.pdf": { "patient_id": "P1", "pages": 2 },\n  "sub/c.pdf": { "patient_id": "P3" },\n' +
        '  "nowhere.pdf": { "patient_id": "P9" },\n  "b.txt": "not an object"\n}\n',
    );
    const staged = await stageSource(docs, { home, metadata: keyed });
    const items = await readStagedPage(staged, 0, 10);
    expect(items.map((i) => [i.key, i.data.patient_id ?? null])).toEqual([
      ['a.pdf', 'P1'],
      ['b.txt', null],
      ['sub/c.pdf', 'P3'],
      ['sub/deeper/d.pdf', null],
    ]);
    expect(items[0]!.data).toMatchObject({ file: 'a.pdf', pages: 2 });
    // Messages name the entry's line in the metadata file.
    expect(staged.warnings).toEqual([
      expect.stringContaining('entry "b.txt" is not an object of fields'),
      expect.stringMatching(/keyed\.json: line 4: no file "nowhere\.pdf"/),
    ]);
  });

  it('refuses an empty match, and options that do not apply to the source', async () => {
    await expect(stageSource(docs, { home, glob: '**/*.docx' })).rejects.toThrow(
      /has no files matching "\*\*\/\*\.docx"/,
    );
    const err = await stageSource(meta, { home, glob: '*.pdf' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/--glob cannot apply to .*meta\.csv, a csv file/);
  });
});

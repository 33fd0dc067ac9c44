import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { readStagedPage } from '../../src/source/page-reader';
import { stageSource } from '../../src/source/stage';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stage-test-'));
});

async function csv(name: string, content: string | Buffer): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, content);
  return file;
}

describe('CSV staging', () => {
  it('reads BOM, CRLF, quoted commas, quotes and newlines, unicode and empty lines like a spreadsheet', async () => {
    const file = await csv(
      'edge.csv',
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(
          'id,name,note\r\n1,"Doe, Jane","said ""hi"""\r\n\r\n2,Zoë,"two\r\nlines"\r\n3,"  spaced  ",x\r\n',
        ),
      ]),
    );
    const staged = await stageSource(file, { home: dir, idColumn: 'id' });
    expect(staged.total).toBe(3);
    const items = await readStagedPage(staged, 0, 10);
    expect(items.map((i) => i.data)).toEqual([
      { id: '1', name: 'Doe, Jane', note: 'said "hi"' },
      { id: '2', name: 'Zoë', note: 'two\r\nlines' },
      { id: '3', name: '  spaced  ', note: 'x' },
    ]);
    expect(items.map((i) => i.line)).toEqual([2, 4, 6]);
  });

  it('reads any page by offset, across index strides', async () => {
    const rows = Array.from({ length: 1050 }, (_, i) => `k${i},ü${i}`).join('\n');
    const staged = await stageSource(await csv('many.csv', `id,v\n${rows}\n`), { home: dir, idColumn: 'id' });
    const page = await readStagedPage(staged, 995, 10);
    expect(page.map((i) => i.key)).toEqual(Array.from({ length: 10 }, (_, i) => `k${995 + i}`));
    expect(page[0]!.index).toBe(995);
    expect(await readStagedPage(staged, 1045, 10)).toHaveLength(5);
  });

  it('reports duplicate keys with their line numbers', async () => {
    const file = await csv('dup.csv', 'id,v\na,1\nb,2\na,3\n');
    await expect(stageSource(file, { home: dir, idColumn: 'id' })).rejects.toThrow(
      /key "a" on line 4 \(first on line 2\)/,
    );
  });

  it('reports a broken quote with its line', async () => {
    const file = await csv('broken.csv', 'id,v\na,1\nb,"open\n');
    const err = await stageSource(file, { home: dir, idColumn: 'id' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/broken\.csv: line \d+: .*quote/i);
  });

  it('names an unknown id column and an empty source', async () => {
    await expect(
      stageSource(await csv('x.csv', 'a,b\n1,2\n'), { home: dir, idColumn: 'id' }),
    ).rejects.toThrow(/--id-column "id" is not a column.*use one of: a, b/s);
    await expect(stageSource(await csv('empty.csv', 'a,b\n'), { home: dir })).rejects.toThrow(/has no items/);
  });
});

// report --zip: outputs of items that did not succeed are put under failed/, apart from the results.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeArchive } from '../../src/cli/commands/report';
import { zipEntries } from '../helpers/files';

describe('report --zip', () => {
  it('puts the documents of failed and cancelled items under failed/', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'report-zip-'));
    await mkdir(path.join(out, 'results'), { recursive: true });
    const outcome = (key: string, status: string) => JSON.stringify({ key, status, index: 0 });
    await writeFile(
      path.join(out, 'results', 'items.jsonl'),
      [outcome('a.jpg', 'succeeded'), outcome('b.jpg', 'failed'), outcome('c d.jpg', 'cancelled')].join(
        '\n',
      ) + '\n',
    );
    for (const [folder, file] of [
      ['a.jpg', 'a.png'],
      ['b.jpg', 'b.png'],
    ]) {
      await mkdir(path.join(out, 'documents', folder!), { recursive: true });
      await writeFile(path.join(out, 'documents', folder!, file!), folder === 'b.jpg' ? '' : 'PNG');
    }
    const { safeKey } = await import('../../src/output-dir/layout');
    await mkdir(path.join(out, 'documents', safeKey('c d.jpg')), { recursive: true });
    await writeFile(path.join(out, 'documents', safeKey('c d.jpg'), 'c.png'), 'half');

    const zip = path.join(out, 'out.zip');
    const result = await writeArchive(out, zip);
    expect(result).toMatchObject({ entries: 4, failedEntries: 2 });
    expect((await zipEntries(zip)).sort()).toEqual(
      [
        'documents/a.jpg/a.png',
        'failed/documents/b.jpg/b.png',
        `failed/documents/${safeKey('c d.jpg')}/c.png`,
        'results/items.jsonl',
      ].sort(),
    );
  });
});

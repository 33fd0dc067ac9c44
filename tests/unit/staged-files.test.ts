// Which items have a file a processor may send: only those staged from a directory. Staging refuses
// an upload setting with any other source format, and a retry of a directory batch keeps the mark.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stageOptionsFromConfig } from '../../src/config/stage-options';
import { Config } from '../../src/config/schema';
import { InputError } from '../../src/errors';
import { readStagedPage } from '../../src/source/page-reader';
import { stageSource } from '../../src/source/stage';
import { rejection } from '../helpers/rejection';

let home: string;
beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'staged-files-'));
});

describe('uploads need a directory source', () => {
  it('names the upload setting of the batch or of a pipeline step', () => {
    const of = (c: unknown) => stageOptionsFromConfig(Config.parse(c), home).filesFor;
    expect(of({ http: { url: 'http://t/x', bodyMode: 'raw' } })).toBe('--body-mode raw');
    expect(of({ http: { url: 'http://t/x' } })).toBeUndefined();
    expect(
      of({ processor: 'command', command: { argv: ['true'] }, http: { bodyMode: 'raw' } }),
    ).toBeUndefined();
    expect(
      of({
        steps: [
          { name: 'meta', processor: 'http', http: { url: 'http://t/m' } },
          { name: 'send', processor: 'http', http: { url: 'http://t/f', bodyMode: 'multipart' } },
        ],
      }),
    ).toBe('step "send" (http.bodyMode multipart)');
  });

  it.each([
    ['rows.csv', 'id,path\n1,/etc/passwd\n', 'csv'],
    ['rows.jsonl', '{"id":1,"path":"/etc/passwd"}\n', 'jsonl'],
    ['rows.json', '[{"id":1,"path":"/etc/passwd"}]', 'json'],
  ])('refuses %s before staging it', async (name, text, format) => {
    const file = path.join(home, name);
    await writeFile(file, text);
    const err = await rejection(stageSource(file, { home, filesFor: '--body-mode raw' }), InputError);
    expect(err.message).toContain(
      `--body-mode raw sends each item's file, but ${file} is a ${format} source: only a directory source ` +
        '(--format dir) gives items files. A "path" field of a row is data, never a file the worker reads and sends',
    );
    expect(err.message).toContain('--body-mode json');
  });

  it('stages a directory, every item marked with its directory', async () => {
    const dir = path.join(home, 'files');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'a.txt'), 'A');
    const staged = await stageSource(dir, { home, filesFor: '--body-mode raw' });
    const [item] = await readStagedPage(staged, 0, 10);
    expect(item).toMatchObject({ data: { path: path.join(dir, 'a.txt') }, within: dir });
  });

  it('a retry of a directory batch keeps the mark of rows inside the directory only', async () => {
    const dir = path.join(home, 'retried');
    const file = path.join(home, 'retry.jsonl');
    await writeFile(
      file,
      `${JSON.stringify({ file: 'a.txt', path: path.join(dir, 'a.txt') })}\n` +
        `${JSON.stringify({ file: 'b.txt', path: '/etc/passwd' })}\n`,
    );
    const staged = await stageSource(file, {
      home,
      format: 'jsonl',
      idColumn: 'file',
      filesFor: '--body-mode raw',
      directoryOf: { root: dir, followsLinks: true },
    });
    const items = new Map((await readStagedPage(staged, 0, 10)).map((i) => [i.key, i]));
    expect(items.get('a.txt')).toMatchObject({ within: dir, followsLinks: true });
    expect(items.get('b.txt')?.within).toBeUndefined();
  });
});

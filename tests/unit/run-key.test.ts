// "The same command" for a directory source means the same folder contents: a file added to the
// folder (or touched, or the metadata file edited) is a new batch, so it is processed instead of the
// run answering "already ended: nothing is sent again".
import { mkdir, mkdtemp, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Config } from '../../src/config/schema';
import { runKey } from '../../src/home/run-record';

async function folder() {
  const dir = await mkdtemp(path.join(tmpdir(), 'run-key-'));
  const docs = path.join(dir, 'docs');
  await mkdir(docs);
  await writeFile(path.join(docs, 'a.txt'), 'a');
  await writeFile(path.join(docs, 'b.txt'), 'b');
  return { dir, docs };
}

const config = (extra: Record<string, unknown> = {}) =>
  Config.parse({ http: { url: 'http://127.0.0.1:1/x' }, ...extra });

describe('runKey of a directory source', () => {
  it('is the same for an unchanged folder', async () => {
    const { docs } = await folder();
    expect(await runKey(docs, config())).toBe(await runKey(docs, config()));
  });

  it('changes when a file is added to the folder (or a subfolder)', async () => {
    const { docs } = await folder();
    const before = await runKey(docs, config());
    await mkdir(path.join(docs, 'sub'));
    await writeFile(path.join(docs, 'sub', 'c.txt'), 'c');
    expect(await runKey(docs, config())).not.toBe(before);
  });

  it('changes when a file is resized or touched', async () => {
    const { docs } = await folder();
    const before = await runKey(docs, config());
    await utimes(path.join(docs, 'a.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const touched = await runKey(docs, config());
    expect(touched).not.toBe(before);
    await writeFile(path.join(docs, 'b.txt'), 'bigger');
    expect(await runKey(docs, config())).not.toBe(touched);
  });

  it('ignores what staging ignores: hidden files, files outside the glob', async () => {
    const { docs } = await folder();
    const before = await runKey(docs, config());
    await writeFile(path.join(docs, '.DS_Store'), 'x');
    expect(await runKey(docs, config())).toBe(before);
    const txt = await runKey(docs, config({ glob: '*.txt' }));
    await writeFile(path.join(docs, 'notes.md'), 'x');
    expect(await runKey(docs, config({ glob: '*.txt' }))).toBe(txt);
  });

  it('changes when the metadata file is edited', async () => {
    const { dir, docs } = await folder();
    const meta = path.join(dir, 'meta.csv');
    await writeFile(meta, 'file,title\na.txt,A\n');
    const before = await runKey(docs, config({ metadata: meta }));
    await writeFile(meta, 'file,title\na.txt,A changed\n');
    expect(await runKey(docs, config({ metadata: meta }))).not.toBe(before);
  });
});

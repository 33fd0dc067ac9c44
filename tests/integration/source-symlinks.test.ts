// A folder source on a real dev server holding symbolic links: a link to a file outside the folder
// (a key, /etc/passwd) is never uploaded nor read unless --follow-symlinks, and a file swapped for
// such a link while the batch runs is refused by the worker before it reads it.
import { createHash } from 'node:crypto';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context';
import { runCli } from '../helpers/cli';
import { finalProgress, readItems } from '../helpers/engine';
import { startUploadServer, type UploadServer } from '../helpers/upload-server';

const sha256 = (b: string): string => createHash('sha256').update(b).digest('hex');
const SECRET = 'TOP-SECRET-KEY-MATERIAL';

describe('folder sources and symbolic links', () => {
  let ctx: TestContext;
  let upload: UploadServer;
  let secret: string;

  beforeAll(async () => {
    ctx = await createTestContext('source-links');
    await ctx.startWorker();
    upload = await startUploadServer();
    secret = path.join(ctx.dir, 'id_rsa');
    await writeFile(secret, SECRET);
  });
  afterAll(async () => {
    await ctx?.close();
    await upload?.close();
  });

  it('uploads files and links inside the folder; a link outside is skipped, naming it, and never sent', async () => {
    const files = path.join(ctx.dir, 'links-src');
    await mkdir(files, { recursive: true });
    await writeFile(path.join(files, 'a.txt'), 'AAAA');
    await symlink(path.join(files, 'a.txt'), path.join(files, 'alias.txt'));
    await symlink(secret, path.join(files, 'key.txt'));

    const run = async (followSymlinks: boolean) => {
      const batchId = `links-${followSymlinks ? 'follow' : 'plain'}-${Date.now()}`;
      const started = await ctx.batches.start(
        files,
        ctx.config({
          batchId,
          format: 'dir',
          followSymlinks,
          http: { url: `${upload.url}/upload/{file}`, bodyMode: 'raw' },
        }),
      );
      const progress = await finalProgress(started.handle);
      const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
      const sent = upload.uploads.filter((u) => u.idempotencyKey.startsWith(`${batchId}:`));
      return { progress, items, sent, started };
    };

    const plain = await run(false);
    expect(plain.started.invalid).toBe(1);
    expect(plain.progress).toMatchObject({ total: 3, succeeded: 2, skipped: 1 });
    expect(plain.items.get('key.txt')).toMatchObject({ status: 'skipped', errorType: 'InvalidItem' });
    expect(plain.items.get('key.txt')?.errorMessage).toContain(
      `file "key.txt" is a symbolic link leading outside ${files}; it is not read`,
    );
    // At the target: the two files inside, never the key.
    expect(plain.sent.map((u) => u.idempotencyKey.split(':')[1]).sort()).toEqual(['a.txt', 'alias.txt']);
    expect(plain.sent.map((u) => u.sha256)).toEqual([sha256('AAAA'), sha256('AAAA')]);
    expect(upload.uploads.some((u) => u.sha256 === sha256(SECRET))).toBe(false);

    // --follow-symlinks is the documented opt-in: then the link is read like any file.
    const followed = await run(true);
    expect(followed.progress).toMatchObject({ total: 3, succeeded: 3, skipped: 0 });
    expect(followed.sent.find((u) => u.idempotencyKey.endsWith(':key.txt'))?.sha256).toBe(sha256(SECRET));
  });

  it('durabatch plan names the refused link; --follow-symlinks takes it', async () => {
    const files = path.join(ctx.dir, 'plan-src');
    await mkdir(files, { recursive: true });
    await writeFile(path.join(files, 'a.txt'), 'AAAA');
    await symlink(secret, path.join(files, 'key.txt'));
    const plan = async (...extra: string[]) => {
      const res = await runCli(['plan', files, '--url', `${upload.url}/upload/{file}`, '--json', ...extra], {
        env: { DURABATCH_HOME: ctx.home, TEMPORAL_ADDRESS: ctx.address },
      });
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout) as { total: number; invalid: number; invalidRows: { reason: string }[] };
    };
    const plain = await plan();
    expect(plain).toMatchObject({ total: 2, invalid: 1 });
    expect(plain.invalidRows[0]?.reason).toBe(
      `file "key.txt" is a symbolic link leading outside ${files}; it is not read ` +
        '(links inside the directory are; --follow-symlinks reads links to anywhere on the worker)',
    );
    expect(await plan('--follow-symlinks')).toMatchObject({ total: 2, invalid: 0 });
  });

  it('refuses, at processing time, a file swapped for a link out of the folder after staging', async () => {
    const files = path.join(ctx.dir, 'swap-src');
    await mkdir(files, { recursive: true });
    await writeFile(path.join(files, 'a.txt'), 'AAAA');
    await writeFile(path.join(files, 'b.txt'), 'BBBB');
    const b = path.join(files, 'b.txt');
    // Item a.txt (run first: concurrency 1) swaps b.txt for a link to the key, as an attacker with
    // write access to the folder would between staging and processing; every item prints its file.
    const script = 'if [ "$1" = a.txt ]; then rm "$3" && ln -s "$4" "$3"; fi; cat "$2"';
    const batchId = `links-swap-${Date.now()}`;
    const started = await ctx.batches.start(
      files,
      ctx.config({
        batchId,
        format: 'dir',
        concurrency: 1,
        processor: 'command',
        command: { argv: ['sh', '-c', script, 'sh', '{file}', '{path}', b, secret], timeoutMs: 10_000 },
      }),
    );
    expect(await finalProgress(started.handle)).toMatchObject({ succeeded: 1, failed: 1 });
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    expect(items.get('a.txt')).toMatchObject({ status: 'succeeded', output: 'AAAA' });
    expect(items.get('b.txt')).toMatchObject({ status: 'failed', attempts: 1, errorType: 'InputError' });
    expect(items.get('b.txt')?.errorMessage).toContain(
      `file "b.txt" now resolves outside the source directory ${files}`,
    );
    // The program never ran for b.txt: the key's bytes are in no outcome.
    expect(JSON.stringify([...items.values()])).not.toContain(SECRET);
    await rm(b);
  });
});

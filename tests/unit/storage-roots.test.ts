// The storage-roots rule (activities/storage-roots.ts): a batch's output directory and staged source
// must really lie in one of the worker's roots — no `..`, no relative path, no symlink out, no
// sibling that merely shares a prefix — and the roots each kind of worker allows by default.
import { mkdir, mkdtemp, realpath, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertStoragePath, storagePathProblem } from '../../activities/storage-roots';
import { loadConfig } from '../../src/config/load';
import {
  ALLOW_ANY,
  allowListForBatch,
  allowListForWorker,
  allowsNothing,
  describeAllowList,
} from '../../src/worker/allow-settings';

let base: string;
let root: string;
let outside: string;

beforeAll(async () => {
  base = await realpath(await mkdtemp(path.join(os.tmpdir(), 'roots-')));
  root = path.join(base, 'data');
  outside = path.join(base, 'data-evil');
  await mkdir(path.join(root, 'output', 'b1'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await symlink(outside, path.join(root, 'output', 'link-out'));
  await symlink(root, path.join(base, 'root-link'));
});

describe('storage path rule', () => {
  it('allows the root itself, a directory in it and one not created yet', async () => {
    for (const dir of [root, path.join(root, 'output', 'b1'), path.join(root, 'output', 'new', 'deeper')]) {
      expect(await storagePathProblem(dir, [root])).toBeUndefined();
    }
  });

  it('refuses a sibling sharing the prefix, a relative path and ".."', async () => {
    expect(await storagePathProblem(outside, [root])).toBe("is outside this worker's storage roots");
    expect(await storagePathProblem('output/b1', [root])).toBe('is not an absolute path');
    expect(await storagePathProblem(path.join(root, 'output') + '/../../data-evil', [root])).toBe(
      'climbs with ".."',
    );
    expect(await storagePathProblem(root, [])).toBe("is outside this worker's storage roots");
  });

  it('follows symlinks: a link inside a root to a folder outside is outside, a linked root is its target', async () => {
    const viaLink = path.join(root, 'output', 'link-out', 'batch');
    expect(await storagePathProblem(viaLink, [root])).toBe(
      `resolves to ${path.join(outside, 'batch')}, outside this worker's storage roots`,
    );
    expect(
      await storagePathProblem(path.join(root, 'output', 'b1'), [path.join(base, 'root-link')]),
    ).toBeUndefined();
    expect(await storagePathProblem(path.join(base, 'root-link', 'output'), [root])).toBeUndefined();
  });

  it('`*` allows any path', async () => {
    expect(await storagePathProblem('/etc/cron.d', ALLOW_ANY.paths)).toBeUndefined();
  });

  it('a refusal is a non-retryable StoragePathNotAllowed naming the path and the setting', async () => {
    const err = await assertStoragePath('output directory', '/etc/cron.d', [root]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.type).toBe('StoragePathNotAllowed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`the batch's output directory "/etc/cron.d"`);
    expect(failure.message).toContain('DURABATCH_ALLOW_PATHS');
    expect(failure.message).toContain('--allow-path');
    expect(failure.message).toContain(`This worker's roots: ${root}`);
  });
});

describe('storage roots by kind of worker', () => {
  it('a standalone worker: DURABATCH_HOME, ./output and DURABATCH_ALLOW_PATHS', async () => {
    const { config } = await loadConfig({ env: { DURABATCH_ALLOW_PATHS: '/srv/out, ./shared' } });
    const allow = allowListForWorker(config.allow, '/data/.durabatch');
    expect(allow.paths).toEqual([
      '/srv/out',
      path.resolve('shared'),
      '/data/.durabatch',
      path.resolve('output'),
    ]);
    expect(describeAllowList(allow).paths).toContain('/srv/out');
    // Roots alone run nothing: the worker still warns that it allows no processor.
    expect(allowsNothing(allow)).toBe(true);
  });

  it('a run worker: its home and its batch output directory only', () => {
    expect(
      allowListForBatch(undefined, [], { home: '/h/.durabatch', outputDir: '/elsewhere/out/b1' }).paths,
    ).toEqual(['/h/.durabatch', '/elsewhere/out/b1']);
  });
});

// Raw and multipart uploads send only files staged from a directory: a `path` column of a CSV row is
// data, never a file the worker reads. Refused when the batch is configured (plan/start/run exit 2),
// and by the worker for an input crafted past the CLI (a workflow started by hand); the target never
// receives a byte of the file the row names. A retried directory batch still sends its files.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchInputFromConfig } from '../../src/client/batch-input-from-config';
import { startRetryFailed } from '../../src/client/retry-failed';
import { stepsFromConfig } from '../../src/client/steps';
import { stageOptionsFromConfig } from '../../src/config/stage-options';
import { InputError } from '../../src/errors';
import { sourceRef, stageSource } from '../../src/source/stage';
import { runCli } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import { finalProgress, readItems } from '../helpers/engine';
import { rejection } from '../helpers/rejection';
import { startUploadServer, type UploadServer } from '../helpers/upload-server';

const sha256 = (b: string): string => createHash('sha256').update(b).digest('hex');
const SECRET = '-----BEGIN OPENSSH PRIVATE KEY----- not-for-the-target';

describe('uploads send only files staged from a directory', () => {
  let ctx: TestContext;
  let upload: UploadServer;
  let key: string;
  let csv: string;

  beforeAll(async () => {
    ctx = await createTestContext('upload-files');
    await ctx.startWorker();
    upload = await startUploadServer();
    key = path.join(ctx.dir, 'id_rsa');
    await writeFile(key, SECRET);
    csv = path.join(ctx.dir, 'rows.csv');
    await writeFile(csv, `id,path\n1,${key}\n`);
  });
  afterAll(async () => {
    await ctx?.close();
    await upload?.close();
  });

  const secretSent = () => upload.uploads.some((u) => u.sha256 === sha256(SECRET));

  it.each(['raw', 'multipart'] as const)(
    'refuses --body-mode %s with a CSV source before staging or starting anything',
    async (bodyMode) => {
      const batchId = `upload-csv-${bodyMode}-${Date.now()}`;
      const err = await rejection(
        ctx.batches.start(csv, ctx.config({ batchId, http: { url: `${upload.url}/up/{id}`, bodyMode } })),
        InputError,
      );
      expect(err.message).toContain(
        `--body-mode ${bodyMode} sends each item's file, but ${csv} is a csv source`,
      );
      expect(err.message).toContain('only a directory source (--format dir) gives items files');
      expect(
        await ctx.client.workflow
          .getHandle(batchId)
          .describe()
          .catch(() => 'none'),
      ).toBe('none');
      expect(secretSent()).toBe(false);
    },
  );

  it('plan, start and run exit 2 naming the rule, and nothing reaches the target', async () => {
    const env = {
      DURABATCH_HOME: ctx.home,
      TEMPORAL_ADDRESS: ctx.address,
      DURABATCH_TASK_QUEUE: ctx.taskQueue,
    };
    for (const command of ['plan', 'start', 'run']) {
      const res = await runCli(
        [command, csv, '--url', `${upload.url}/up/{id}`, '--body-mode', 'raw', '--no-worker'].filter(
          (a) => command === 'run' || a !== '--no-worker',
        ),
        { env },
      );
      expect(res.code, `${command}: ${res.stderr}`).toBe(2);
      expect(res.stderr).toContain("--body-mode raw sends each item's file");
    }
    expect(secretSent()).toBe(false);
  });

  it('the worker refuses an item without a staged file, from an input crafted past the CLI', async () => {
    // As `temporal workflow start --type batchWorkflow` could: CSV items with raw upload steps.
    const batchId = `upload-forged-${Date.now()}`;
    const json = ctx.config({ batchId, http: { url: `${upload.url}/up/{id}` } });
    const staged = await stageSource(csv, stageOptionsFromConfig(json, ctx.home));
    const raw = ctx.config({
      batchId,
      maxAttempts: 3,
      http: { url: `${upload.url}/up/{id}`, bodyMode: 'raw' },
    });
    const outputDir = path.join(ctx.dir, 'out', batchId);
    await mkdir(outputDir, { recursive: true });
    const handle = await ctx.batches.startInput(
      batchInputFromConfig(raw, {
        batchId,
        source: sourceRef(staged),
        steps: stepsFromConfig(raw),
        outputDir,
      }),
      {
        taskQueue: ctx.taskQueue,
        memo: { source: csv, outputDir, total: 1 },
        summary: 'forged',
        details: [],
        audit: {},
      },
    );
    expect(await finalProgress(handle)).toMatchObject({
      total: 1,
      failed: 1,
      errorsByType: { InputError: 1 },
    });
    const [item] = await readItems(outputDir);
    expect(item).toMatchObject({ key: '1', attempts: 1, errorType: 'InputError' });
    expect(item!.errorMessage).toContain('item "1" has no file staged from a directory source');
    expect(upload.uploads.filter((u) => u.idempotencyKey.startsWith(`${batchId}:`))).toEqual([]);
    expect(secretSent()).toBe(false);
  });

  it('a directory source still uploads its files', async () => {
    const files = path.join(ctx.dir, 'dir-src');
    await mkdir(files, { recursive: true });
    await writeFile(path.join(files, 'a.txt'), 'AAAA');
    const batchId = `upload-dir-${Date.now()}`;
    const started = await ctx.batches.start(
      files,
      ctx.config({ batchId, format: 'dir', http: { url: `${upload.url}/up/{file}`, bodyMode: 'raw' } }),
    );
    expect(await finalProgress(started.handle)).toMatchObject({ total: 1, succeeded: 1 });
    const sent = upload.uploads.filter((u) => u.idempotencyKey.startsWith(`${batchId}:`));
    expect(sent.map((u) => u.sha256)).toEqual([sha256('AAAA')]);
  });

  it('retry-failed of a directory batch sends its files again', async () => {
    const files = path.join(ctx.dir, 'retry-src');
    await mkdir(files, { recursive: true });
    await writeFile(path.join(files, 'b.txt'), 'BBBB');
    const oldId = `upload-retry-old-${Date.now()}`;
    // Nothing listens on port 9 (discard): the one attempt fails, so the item is in failed.csv.
    const old = await ctx.batches.start(
      files,
      ctx.config({
        batchId: oldId,
        format: 'dir',
        maxAttempts: 1,
        http: { url: 'http://127.0.0.1:9/up/{file}', bodyMode: 'raw' },
      }),
    );
    expect(await finalProgress(old.handle)).toMatchObject({ total: 1, failed: 1 });
    const retried = await startRetryFailed(ctx.batches, oldId, {
      outputDir: path.join(ctx.dir, 'out', `${oldId}-retry`),
      steps: (steps) =>
        steps.map((s) =>
          s.processor.type === 'http'
            ? { ...s, processor: { ...s.processor, url: `${upload.url}/up/{file}` } }
            : s,
        ),
    });
    expect(await finalProgress(retried.handle)).toMatchObject({ total: 1, succeeded: 1 });
    const sent = upload.uploads.filter((u) => u.idempotencyKey.startsWith(`${retried.batchId}:`));
    expect(sent.map((u) => u.sha256)).toEqual([sha256('BBBB')]);
  });
});

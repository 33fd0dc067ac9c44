// Two retry-failed calls with one new batch id (an Idempotency-Key sent twice, a command run twice):
// one starts the batch, the other is refused, and the one refused never touches the retry file the
// started batch staged from. Rewriting it under that batch's staging made its source check pause the
// batch as an edited source, and the service's caller waited for it forever.
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRetryFailed } from '../../src/client/retry-failed';
import { InputError } from '../../src/errors';
import { createTestContext, type TestContext } from '../helpers/context';
import { finalProgress } from '../helpers/engine';
import { patientRows, writeCsv } from '../helpers/files';
import { rejection } from '../helpers/rejection';

/** An InputError's message without its `fix:` line. */
const firstLine = (err: Error) => err.message.split('\n')[0];

describe('retry-failed twice with one batch id', () => {
  let ctx: TestContext;
  let oldId: string;

  beforeAll(async () => {
    ctx = await createTestContext('retry-failed-concurrent');
    await ctx.startWorker();
    const csv = await writeCsv(ctx.dir, 'rows.csv', patientRows(3));
    oldId = `retry-twice-old-${Date.now()}`;
    // Nothing listens on port 9 (discard): every item fails its one attempt.
    const old = await ctx.batches.start(
      csv,
      ctx.config({ batchId: oldId, idColumn: 'id', maxAttempts: 1, http: { url: 'http://127.0.0.1:9/x' } }),
    );
    expect(await finalProgress(old.handle)).toMatchObject({ total: 3, failed: 3 });
  });
  afterAll(() => ctx?.close());

  const retry = (batchId: string) =>
    startRetryFailed(ctx.batches, oldId, { batchId, outputDir: path.join(ctx.dir, 'out', batchId) });
  const retryFile = (batchId: string) => path.join(ctx.dir, 'out', batchId, `retry-of-${oldId}.jsonl`);

  it('the refused call leaves the started batch’s retry file as it was', async () => {
    const batchId = `retry-twice-seq-${Date.now()}`;
    const first = await retry(batchId);
    const before = await stat(retryFile(batchId));
    const err = await rejection(retry(batchId), InputError);
    expect(firstLine(err)).toBe(`a batch with id "${batchId}" already exists`);
    const after = await stat(retryFile(batchId));
    expect({ ino: after.ino, mtimeMs: after.mtimeMs, size: after.size }).toEqual({
      ino: before.ino,
      mtimeMs: before.mtimeMs,
      size: before.size,
    });
    expect(await finalProgress(first.handle)).toMatchObject({ status: 'failed', total: 3, failed: 3 });
    // No private file of either call is left beside it.
    expect(await readdir(path.dirname(retryFile(batchId)))).not.toContainEqual(
      expect.stringContaining('.tmp-'),
    );
  });

  it('two calls at once start one batch, which runs to its end', async () => {
    const batchId = `retry-twice-now-${Date.now()}`;
    const settled = await Promise.allSettled([retry(batchId), retry(batchId)]);
    const outcomes = settled.map((s) =>
      s.status === 'fulfilled' ? 'started' : firstLine(s.reason as Error),
    );
    expect(outcomes.sort()).toEqual([`a batch with id "${batchId}" already exists`, 'started']);
    const started = settled.find((s) => s.status === 'fulfilled')!.value;
    expect(started.total).toBe(3);
    expect(await finalProgress(started.handle)).toMatchObject({ status: 'failed', total: 3, failed: 3 });
  });

  it('a retry file already holding other rows is refused and left alone', async () => {
    const batchId = `retry-twice-other-${Date.now()}`;
    const file = retryFile(batchId);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, '{"id":"K0001","name":"edited"}\n');
    const err = await rejection(retry(batchId), InputError);
    expect(firstLine(err)).toBe(`${file} already exists with other rows than the failed items of this batch`);
    expect(await readFile(file, 'utf8')).toBe('{"id":"K0001","name":"edited"}\n');
  });
});

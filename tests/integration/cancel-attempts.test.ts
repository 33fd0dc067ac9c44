// A cancelled running item counts the attempts it made: an item cancelled on its third attempt reads
// 3 attempts in items.jsonl and results.csv, not 0 (retries are the server's, so the activity tells
// the workflow which attempt it was in its cancellation). Per-item children and page mode alike.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context';
import { batchEnd, batchesQuery, readItems, waitFor } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { replayWorkflows } from '../helpers/replay';

describe('a cancelled running item counts its attempts', () => {
  let ctx: TestContext;
  let mod: string;
  let attemptsFile: string;
  const batchIds: string[] = [];

  beforeAll(async () => {
    ctx = await createTestContext('cancel-attempts');
    await ctx.startWorker();
    attemptsFile = path.join(ctx.dir, 'attempts.log');
    mod = path.join(ctx.dir, 'third-attempt-hangs.mjs');
    // `slow` fails its first two attempts (retryable), then waits until cancelled.
    await writeFile(
      mod,
      `import { appendFile } from 'node:fs/promises';
export default async function process(item, ctx) {
  if (item.data.mode !== 'slow') return { ok: true };
  await appendFile(${JSON.stringify(attemptsFile)}, item.key + ':' + ctx.attempt + '\\n');
  if (ctx.attempt < 3) throw new Error('not yet (attempt ' + ctx.attempt + ')');
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
  throw ctx.signal.reason;
}
`,
    );
  });
  afterAll(async () => {
    if (batchIds.length > 0)
      expect(await replayWorkflows(ctx.client, batchesQuery(batchIds))).toBeGreaterThan(0);
    await ctx?.close();
  });

  it.each([
    ['one child per item', 1, 'activity'],
    ['page mode', 3, 'activity'],
    ['page mode, local activities', 3, 'local'],
  ] as const)(
    '%s: the item cancelled on its third attempt reads 3 attempts',
    async (_, itemsPerChild, itemExecution) => {
      const batchId = `cancel-attempts-${itemsPerChild}-${itemExecution}-${Date.now()}`;
      batchIds.push(batchId);
      const tag = `${itemsPerChild}${itemExecution[0]}`;
      const slow = `s${tag}`;
      const rows = [
        { id: `q${tag}`, mode: 'quick' },
        { id: slow, mode: 'slow' },
        { id: `w${tag}`, mode: 'quick' },
      ];
      const csv = await writeCsv(ctx.dir, `${batchId}.csv`, rows);
      const started = await ctx.batches.start(
        csv,
        ctx.config({
          batchId,
          idColumn: 'id',
          itemsPerChild,
          itemExecution,
          processor: 'module',
          module: { path: mod, timeoutMs: 120_000 },
          maxAttempts: 5,
          initialIntervalMs: 100,
          maxIntervalMs: 200,
        }),
      );
      await waitFor(
        'the slow item on its third attempt',
        async () => (await readFile(attemptsFile, 'utf8').catch(() => '')).includes(`${slow}:3\n`),
        30_000,
      );
      await ctx.batches.cancelItem(batchId, slow);
      const end = await batchEnd(started.handle);
      expect(end).toMatchObject({
        kind: 'returned',
        progress: { status: 'completed', total: 3, succeeded: 2, cancelled: 1, failed: 0 },
      });
      const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
      expect(items.get(slow)).toMatchObject({ status: 'cancelled', errorType: 'Cancelled', attempts: 3 });
      const csvRows = parse<Record<string, string>>(
        await readFile(path.join(started.outputDir, 'results', 'results.csv'), 'utf8'),
        { columns: true },
      );
      expect(csvRows.find((r) => r.key === slow)).toMatchObject({ status: 'cancelled', attempts: '3' });
    },
  );
});

// A source edited while its batch runs: detected at the next page read, the batch pauses with a
// reason naming the file, and nothing from the edited file is mixed in. Restoring the original
// content and resuming completes the batch.
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchEnd, controlRows, readItems, waitFor } from '../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../helpers/harness';
import { startBatchDirect } from '../helpers/start-direct';

describe('a source edited during its batch', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('source-change');
  });
  afterAll(() => h?.close());

  it('pauses the batch with the file path, and resumes once the original is back', async () => {
    const { ctx } = h;
    const t = await h.target();
    const { batchId, csv } = await h.source(
      'edited',
      controlRows(30, () => ({ delayMs: 100 })),
    );
    const original = await readFile(csv);
    const config = ctx.config({ batchId, idColumn: 'id', concurrency: 2, http: { url: controlUrl(t) } });
    const { handle, outputDir } = await startBatchDirect(ctx, csv, config, { pageSize: 5 });

    await waitFor(
      'a few items to finish',
      async () => (await ctx.batches.progress(batchId)).succeeded >= 3,
      30_000,
    );
    await writeFile(csv, Buffer.concat([original, Buffer.from('K9999,0,0,0\n')]));

    const paused = await waitFor(
      'the batch to pause',
      async () => {
        const p = await ctx.batches.progress(batchId);
        return p.status === 'paused' && p.running === 0 ? p : undefined;
      },
      30_000,
    );
    expect(paused.statusReason).toContain(csv);
    expect(paused.statusReason).toMatch(/changed|removed|replaced/);
    expect(paused.succeeded).toBeLessThan(30);
    expect(paused.succeeded + paused.pending).toBe(30);

    // Same bytes back (a new mtime): not a change; resume finishes from the staged copy.
    await writeFile(csv, original);
    await ctx.batches.resume(batchId);
    const end = await batchEnd(handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 30, succeeded: 30 },
    });
    const items = await readItems(outputDir);
    expect(items.map((i) => i.key)).not.toContain('K9999');
    expect(new Set(items.map((i) => i.key)).size).toBe(30);
  });
});

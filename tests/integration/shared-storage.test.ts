// Storage not shared with the worker: a worker that cannot see the batch's output directory (or its
// staged source) says so, naming the path, and the batch pauses instead of failing items one by one;
// once the directory is back, `resume` finishes the batch with every item once.
import { rename } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchEnd, controlRows, readItems, waitFor } from '../helpers/engine';
import { engineHarness, type EngineHarness } from '../helpers/harness';

describe('storage the worker cannot see', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('shared-storage');
  });
  afterAll(() => h?.close());

  it.each([
    { mode: 'per item', settings: {} },
    { mode: 'page mode', settings: { itemsPerChild: 10 } },
    // The runner stops, the page pauses the batch, and a new runner starts on resume.
    { mode: 'runner mode', settings: { itemsPerChild: 10, itemExecution: 'runner' as const } },
  ])(
    '$mode: a missing output directory pauses the batch with its path; resume finishes it',
    async ({ settings }) => {
      const b = await h.start(
        'unshared',
        controlRows(30, () => ({ delayMs: 100 })),
        { concurrency: 2, ...settings },
      );
      await waitFor(
        'a few items to finish',
        async () => (await h.ctx.batches.progress(b.batchId)).succeeded >= 3,
      );
      // What a worker on a machine without the shared volume sees: no such directory.
      await rename(b.outputDir, `${b.outputDir}.away`);

      const paused = await waitFor(
        'the batch to pause',
        async () => {
          const p = await h.ctx.batches.progress(b.batchId);
          // Items that met the missing directory wait (running) for the resume; nothing new starts.
          return p.status === 'paused' ? p : undefined;
        },
        30_000,
      );
      expect(paused.statusReason).toContain(`cannot see the batch's output directory at ${b.outputDir}`);
      expect(paused.statusReason).toContain('DURABATCH_HOME and the output directory at the same paths');
      expect(paused).toMatchObject({ failed: 0, skipped: 0, cancelled: 0 });
      // Nothing new starts while paused: the items in flight at the pause (at most 2) are all the target
      // saw. A page reports its outcomes at least every 2 s, so its count is compared after that.
      const effectsAtPause = b.target.stats().effects;
      await sleep(2_500);
      expect(b.target.stats().effects).toBe(effectsAtPause);
      const reported = await h.ctx.batches.progress(b.batchId);
      expect(effectsAtPause).toBeLessThanOrEqual(reported.succeeded + 2);

      await rename(`${b.outputDir}.away`, b.outputDir);
      await h.ctx.batches.resume(b.batchId);
      expect(await batchEnd(b.handle)).toMatchObject({
        kind: 'returned',
        progress: { status: 'completed', succeeded: 30, failed: 0 },
      });
      const items = await readItems(b.outputDir);
      expect(new Set(items.map((i) => i.key)).size).toBe(30);
      expect(b.target.stats().effects).toBe(30);
    },
  );

  it('replays every history above without nondeterminism', async () => {
    const [replayed, listed] = await h.replayAll();
    expect(replayed).toBe(listed);
  });
});

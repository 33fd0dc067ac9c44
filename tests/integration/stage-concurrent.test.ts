// Starting batches at the same time from one process over sources with identical content (the same
// CSV twice, or two copies of it). Staging is content-addressed, so both stagings share one staged
// directory; both batches must still start and finish with exact counts.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetApi } from '../../examples/target-api/server';
import { createTestContext, type TestContext } from '../helpers/context';
import { quietTarget, readItems, finalProgress } from '../helpers/engine';
import { patientRows, writeCsv } from '../helpers/files';

describe('concurrent starts over identical sources', () => {
  let ctx: TestContext;
  let target: TargetApi;

  beforeAll(async () => {
    ctx = await createTestContext('stage-concurrent');
    target = await quietTarget();
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('two batches started at once on two copies of one CSV both run to completion', async () => {
    const a = await writeCsv(ctx.dir, 'copy-a.csv', patientRows(5));
    const b = path.join(ctx.dir, 'copy-b.csv');
    await copyFile(a, b);
    const stamp = Date.now();
    const start = (csv: string, batchId: string) =>
      ctx.batches.start(
        csv,
        ctx.config({ batchId, idColumn: 'id', http: { url: `${target.url}/patients` } }),
      );
    const settled = await Promise.allSettled([start(a, `stage-a-${stamp}`), start(b, `stage-b-${stamp}`)]);
    expect(settled.map((s) => (s.status === 'rejected' ? String(s.reason) : 'started'))).toEqual([
      'started',
      'started',
    ]);
    for (const s of settled) {
      if (s.status !== 'fulfilled') continue;
      const result = await finalProgress(s.value.handle);
      expect(result).toMatchObject({ status: 'completed', total: 5, succeeded: 5 });
      expect((await readItems(s.value.outputDir)).map((i) => i.key).sort()).toEqual(
        patientRows(5).map((r) => r.id),
      );
    }
  });
});

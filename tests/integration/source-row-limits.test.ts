// A source row nested 10,000 levels deep on a real dev server: staging does not abort; the row is a
// skipped item naming its line and the limit, and the target receives exactly the other rows.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ROW_DEPTH } from '../../src/source/types';
import { createTestContext, type TestContext } from '../helpers/context';
import { finalProgress, readItems } from '../helpers/engine';
import { startHeaderRecorder, type HeaderRecorder } from '../helpers/header-recorder';

describe('source rows past the depth limit', () => {
  let ctx: TestContext;
  let recorder: HeaderRecorder;

  beforeAll(async () => {
    ctx = await createTestContext('row-limits');
    await ctx.startWorker();
    recorder = await startHeaderRecorder();
  });
  afterAll(async () => {
    await ctx?.close();
    await recorder?.close();
  });

  it('skips a 10,000-deep JSONL row with a per-line reason and sends the rest', async () => {
    const batchId = `row-depth-${Date.now()}`;
    const file = path.join(ctx.dir, `${batchId}.jsonl`);
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    await writeFile(file, `{"id":"a"}\n{"id":"b","x":${deep}}\n{"id":"c"}\n`);
    const started = await ctx.batches.start(
      file,
      ctx.config({ batchId, idColumn: 'id', http: { url: `${recorder.url}/rows/{id}` } }),
    );
    expect(started).toMatchObject({ total: 3, invalid: 1 });
    expect(await finalProgress(started.handle)).toMatchObject({ succeeded: 2, skipped: 1, failed: 0 });
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    expect(items.get('line-2')).toMatchObject({ status: 'skipped', errorType: 'InvalidItem' });
    expect(items.get('line-2')?.errorMessage).toBe(
      `line 2: nested more than ${MAX_ROW_DEPTH} levels deep (objects and arrays within each other); ` +
        'flatten the row, or give the deep value as a JSON string',
    );
    expect(recorder.requests.map((r) => r.path).sort()).toEqual(['/rows/a', '/rows/c']);
  });
});

// The module processor with real user modules written to disk: loading, the context the function
// sees, and how its results and errors map to Temporal's retry classification.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessorContext } from '../../activities/processors/context';
import { runModule } from '../../activities/processors/module';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import type { ModuleProcessorSpec } from '../../workflows/types';
import { rejection } from '../helpers/rejection';

let dir: string;
let outputDir: string;
let seq = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'processor-module-'));
  outputDir = path.join(dir, 'out');
});

const sdkUrl = pathToFileURL(path.resolve('src/sdk.ts')).href;

/** Writes a fixture module (a fresh file each time: modules are cached per path). */
async function fixture(source: string, ext = 'mjs'): Promise<string> {
  const file = path.join(dir, `m${++seq}.${ext}`);
  await writeFile(file, source);
  return file;
}

interface TestCtx extends ProcessorContext {
  heartbeats: unknown[];
  controller: AbortController;
}

function makeCtx(data: Record<string, unknown> = {}, extra: Partial<ProcessorContext> = {}): TestCtx {
  const controller = new AbortController();
  const heartbeats: unknown[] = [];
  return {
    batchId: 'b1',
    item: { index: 4, key: 'K5', line: 6, data },
    idempotencyKey: 'b1:K5',
    attempt: 2,
    signal: controller.signal,
    controller,
    heartbeats,
    heartbeat: (details?: unknown) => void heartbeats.push(details),
    lastHeartbeatDetails: undefined,
    steps: {},
    outputDir,
    stopGraceMs: 300,
    env: {},
    log: pino({ level: 'silent' }),
    ...extra,
  };
}

const spec = (module: string, timeoutMs = 10_000): ModuleProcessorSpec => ({
  type: 'module',
  module,
  timeoutMs,
});

const failure = (p: Promise<unknown>) => rejection(p, ApplicationFailure);

describe('module processor: results', () => {
  it('calls the default export with the item and context, and returns a bounded body, output and cost', async () => {
    const file = await fixture(`
      export default async function process(item, ctx) {
        const { signal, log, heartbeat, progress, ...plain } = ctx;
        log.info('hello');
        progress(42);
        return { item, ctx: plain, aborted: signal.aborted, cost: 0.25 };
      }`);
    const steps = { fetch: { name: 'fetch', attempt: 1, latencyMs: 3, body: { id: 9 } } };
    const reported: number[] = [];
    const out = await runModule(
      spec(file),
      makeCtx({ name: 'Zoë' }, { steps, progress: (p: number) => void reported.push(p) }),
    );
    expect(reported).toEqual([42]);
    expect(out.cost).toBe(0.25);
    expect(out.files).toBeUndefined(); // nothing written: the empty documents folder is removed
    expect(existsSync(path.join(outputDir, 'documents', 'K5'))).toBe(false);
    expect(out.body).toEqual({
      item: { key: 'K5', index: 4, line: 6, data: { name: 'Zoë' } },
      ctx: {
        batchId: 'b1',
        key: 'K5',
        attempt: 2,
        idempotencyKey: 'b1:K5',
        outputDir,
        documentsDir: path.join(outputDir, 'documents', 'K5'),
        steps,
      },
      aborted: false,
      cost: 0.25,
    });
    expect(out.output).toMatch(/^\{"item":\{"key":"K5"/);
    expect(out.output!.length).toBeLessThanOrEqual(301);
  });

  it('drops a body too large for history but keeps an excerpt, and lists files written to documentsDir', async () => {
    const file = await fixture(`
      import { writeFile } from 'node:fs/promises';
      export default async function (item, ctx) {
        await writeFile(ctx.documentsDir + '/result.txt', 'done');
        return 'x'.repeat(100000);
      }`);
    const out = await runModule(spec(file), makeCtx());
    expect(out.body).toBeUndefined();
    expect(out.output).toBe(`"${'x'.repeat(299)}…`);
    expect(out.cost).toBeUndefined();
    expect(out.files).toEqual(['documents/K5/result.txt']);
  });

  it('passes heartbeats through and shows the last details of an earlier attempt', async () => {
    const file = await fixture(`
      export default async function (item, ctx) {
        const from = ctx.lastHeartbeat?.done ?? 0;
        for (let done = from + 1; done <= from + 3; done++) ctx.heartbeat({ done });
        return { resumedFrom: from };
      }`);
    const ctx = makeCtx({}, { lastHeartbeatDetails: { done: 7 } });
    const out = await runModule(spec(file), ctx);
    expect(out.body).toEqual({ resumedFrom: 7 });
    expect(ctx.heartbeats).toEqual([{ done: 8 }, { done: 9 }, { done: 10 }]);
  });

  it('loads a TypeScript module typed with the sdk', async () => {
    const file = await fixture(
      `import type { ProcessFunction } from '${sdkUrl}';
      const run: ProcessFunction<{ n: number }> = async (item) => ({ doubled: item.data.n * 2 });
      export default run;`,
      'ts',
    );
    expect((await runModule(spec(file), makeCtx({ n: 21 }))).body).toEqual({ doubled: 42 });
  });
});

describe('module processor: errors', () => {
  it('maps NonRetryableError from the sdk to a non-retryable failure of its type', async () => {
    const file = await fixture(`
      import { NonRetryableError } from '${sdkUrl}';
      export default async function () { throw new NonRetryableError('email missing', 'MissingField'); }`);
    const err = await failure(runModule(spec(file), makeCtx()));
    expect([err.type, err.nonRetryable, err.message]).toEqual(['MissingField', true, 'email missing']);
  });

  it('recognises a NonRetryableError from another copy of the package by its name', async () => {
    const file = await fixture(`
      class NonRetryableError extends Error { name = 'NonRetryableError'; }
      export default async function () { throw new NonRetryableError('no such patient'); }`);
    const err = await failure(runModule(spec(file), makeCtx()));
    expect([err.type, err.nonRetryable, err.message]).toEqual(['NonRetryableError', true, 'no such patient']);
  });

  it('maps any other error to a retryable ModuleError, message kept and bounded', async () => {
    const file = await fixture(`
      export default async function (item) { throw new TypeError('socket hang up ' + item.data.tail); }`);
    const err = await failure(runModule(spec(file), makeCtx({ tail: 'y'.repeat(5000) })));
    expect([err.type, err.nonRetryable]).toEqual(['ModuleError', false]);
    expect(err.message.startsWith('socket hang up yyy')).toBe(true);
    expect(err.message.length).toBeLessThanOrEqual(1001);
  });

  it('reports an import-time throw as ModuleLoadError naming the file, and loads the file once fixed', async () => {
    const file = await fixture(`throw new Error('DATABASE_URL missing');\nexport default async () => 1;`);
    const err = await failure(runModule(spec(file), makeCtx()));
    expect([err.type, err.nonRetryable]).toEqual(['ModuleLoadError', true]);
    expect(err.message).toContain(file);
    expect(err.message).toContain('DATABASE_URL missing');
    await writeFile(file, 'export default async () => ({ fixed: true });');
    expect((await runModule(spec(file), makeCtx())).body).toEqual({ fixed: true });
  });

  it('reports a module without a default export function as ModuleLoadError', async () => {
    const file = await fixture('export const process = async () => 1;');
    const err = await failure(runModule(spec(file), makeCtx()));
    expect([err.type, err.nonRetryable]).toEqual(['ModuleLoadError', true]);
    expect(err.message).toMatch(/has no default export function/);
    const missing = await failure(runModule(spec(path.join(dir, 'nope.mjs')), makeCtx()));
    expect(missing.type).toBe('ModuleLoadError');
    expect(missing.message).toContain('nope.mjs');
  });

  it('times out with a retryable ModuleTimeout and aborts the function signal', async () => {
    const flag = path.join(dir, 'aborted.txt');
    const file = await fixture(`
      import { writeFile } from 'node:fs/promises';
      export default async function (item, ctx) {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        await writeFile(item.data.flag, ctx.signal.reason.name);
        throw ctx.signal.reason;
      }`);
    const err = await failure(runModule(spec(file, 300), makeCtx({ flag })));
    expect([err.type, err.nonRetryable]).toEqual(['ModuleTimeout', false]);
    expect(err.message).toMatch(/within 300 ms/);
    await expect.poll(() => readFile(flag, 'utf8').catch(() => '')).toBe('TimeoutError');
  });

  it('abandons a function that ignores the cancellation after the stop grace, rethrowing the reason', async () => {
    const file = await fixture(`export default () => new Promise(() => {});`);
    const ctx = makeCtx({}, { stopGraceMs: 400 });
    const reason = new Error('cancelled');
    let abortedAt = 0;
    setTimeout(() => {
      abortedAt = Date.now();
      ctx.controller.abort(reason);
    }, 100);
    await expect(runModule(spec(file), ctx)).rejects.toBe(reason);
    expect(Date.now() - abortedAt).toBeGreaterThanOrEqual(400); // the grace period was given
  });

  it('waits for a function that honours ctx.signal to stop, and removes the files it left', async () => {
    const done = path.join(dir, `stopped-${seq}.txt`);
    const file = await fixture(`
      import { writeFile } from 'node:fs/promises';
      import path from 'node:path';
      export default async (item, ctx) => {
        await writeFile(path.join(ctx.documentsDir, 'half.bin'), 'partial');
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        await new Promise((resolve) => setTimeout(resolve, 150)); // cleaning up
        await writeFile(${JSON.stringify(done)}, 'stopped');
        throw ctx.signal.reason;
      }`);
    const ctx = makeCtx({}, { stopGraceMs: 5_000, item: { index: 0, key: 'cancel-me', line: 2, data: {} } });
    const reason = new Error('cancelled');
    setTimeout(() => ctx.controller.abort(reason), 100);
    await expect(runModule(spec(file), ctx)).rejects.toBe(reason);
    // Settled only once the function had stopped, and its partial output is gone.
    expect(await readFile(done, 'utf8')).toBe('stopped');
    const docs = await readdir(path.join(outputDir, 'documents')).catch(() => [] as string[]);
    expect(docs.filter((d) => d.startsWith('cancel-me'))).toEqual([]);
  });
});

describe('example module: register-patient', () => {
  let api: TargetApi;
  const file = path.resolve('examples/processors/register-patient.ts');
  const row = { patient_id: 'P1', first_name: 'Kara', last_name: 'Stenek', birth_date: '1976-05-14' };
  beforeAll(async () => {
    api = await startTargetApi({ latencyMs: [0, 0], failFirstAttempts: 1 });
    process.env.PATIENT_API_URL = api.url;
  });
  afterAll(async () => {
    delete process.env.PATIENT_API_URL;
    await api.close();
  });

  it('registers once across attempts (idempotency key) and writes a receipt', async () => {
    const ctx = () => makeCtx(row, { outputDir: path.join(dir, 'example-out') });
    const first = await failure(runModule(spec(file), ctx()));
    expect([first.type, first.nonRetryable]).toEqual(['ModuleError', false]); // the API's 503
    const ok = await runModule(spec(file), ctx());
    expect(ok.body).toEqual({ patientId: expect.stringMatching(/^pat_/) as unknown, replayed: false });
    expect(ok.files).toEqual(['documents/K5/receipt.json']);
    const again = await runModule(spec(file), ctx());
    expect(again.body).toEqual({ ...(ok.body as object), replayed: true });
    expect(api.stats().effects).toBe(1);
  });

  it('fails a row with missing fields at once', async () => {
    const err = await failure(runModule(spec(file), makeCtx({ ...row, last_name: ' ' })));
    expect([err.type, err.nonRetryable, err.message]).toEqual([
      'MissingField',
      true,
      'row 6: missing last_name',
    ]);
  });
});

describe('module processor: `durabatch` for modules outside any project', () => {
  // Each file lives in a temp dir with no package.json and no node_modules above it: `durabatch`
  // resolves to the worker's module API. One of each module format a user might write.
  const sources: Record<string, string> = {
    // No package.json: a .ts file is CommonJS, loaded through require().
    ts: `import { NonRetryableError, type ProcessFunction } from 'durabatch';
const run: ProcessFunction<{ n?: number }> = async (item, ctx) => {
  if (item.data.n === undefined) throw new NonRetryableError('n is required', 'MissingN');
  return { doubled: item.data.n * 2, key: ctx.key };
};
export default run;`,
    mts: `import { NonRetryableError, type ProcessFunction } from 'durabatch';
const run: ProcessFunction<{ n?: number }> = async (item, ctx) => {
  if (item.data.n === undefined) throw new NonRetryableError('n is required', 'MissingN');
  return { doubled: item.data.n * 2, key: ctx.key };
};
export default run;`,
    mjs: `import { NonRetryableError } from 'durabatch';
export default async (item, ctx) => {
  if (item.data.n === undefined) throw new NonRetryableError('n is required', 'MissingN');
  return { doubled: item.data.n * 2, key: ctx.key };
};`,
    cjs: `const { NonRetryableError } = require('durabatch');
module.exports = async (item, ctx) => {
  if (item.data.n === undefined) throw new NonRetryableError('n is required', 'MissingN');
  return { doubled: item.data.n * 2, key: ctx.key };
};`,
  };

  for (const [ext, source] of Object.entries(sources)) {
    it(`loads a .${ext} module that imports durabatch, and its NonRetryableError fails the item at once`, async () => {
      const own = await mkdtemp(path.join(os.tmpdir(), `outside-${ext}-`));
      const file = path.join(own, `process.${ext}`);
      await writeFile(file, source);
      const ok = await runModule(spec(file), makeCtx({ n: 21 }));
      expect(ok.body).toEqual({ doubled: 42, key: 'K5' });
      const err = await failure(runModule(spec(file), makeCtx({})));
      expect([err.type, err.nonRetryable, err.message]).toEqual(['MissingN', true, 'n is required']);
    });
  }
});

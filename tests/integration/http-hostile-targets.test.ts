// Targets cannot break the worker, and credentials never cross origins (issue 23): the http processor
// on a real dev server against scripted local endpoints. Redirects to another origin are not
// followed (that origin gets nothing); item keys HTTP cannot carry are encoded, and errors before
// sending fail once; bodies are capped after decompression (RSS stays bounded under an endless body
// or a gzip bomb); a body cut short is retried, never a success; a hostile nesting never repeats a
// request that took effect.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REDIRECTS } from '../../activities/processors/http';
import type { StepResult } from '../../workflows/types';
import { createTestContext, type TestContext } from '../helpers/context';
import { finalProgress, readItems } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { activityResults } from '../helpers/history';
import { batchLogLines } from '../helpers/log-lines';
import { startScriptedTarget, writeEndlessly, type ScriptedTarget } from '../helpers/scripted-target';

const MiB = 1024 * 1024;

describe('http processor against hostile targets', () => {
  let ctx: TestContext;
  let secretCtx: TestContext;
  const targets: ScriptedTarget[] = [];
  const track = (t: ScriptedTarget): ScriptedTarget => (targets.push(t), t);
  let seq = 0;
  const newBatchId = (name: string) => `h23-${name}-${Date.now()}-${++seq}`;

  beforeAll(async () => {
    ctx = await createTestContext('http-hostile');
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
    await secretCtx?.close();
    await Promise.all(targets.map((t) => t.close()));
  });

  /** Runs a batch of `rows` on `c` and returns its final progress and item outcomes by key. */
  async function runBatch(
    c: TestContext,
    name: string,
    rows: Record<string, string>[],
    settings: Record<string, unknown>,
  ) {
    const batchId = newBatchId(name);
    const csv = await writeCsv(c.dir, `${batchId}.csv`, rows);
    const started = await c.batches.start(csv, c.config({ batchId, idColumn: 'id', ...settings }));
    const progress = await finalProgress(started.handle);
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    return { batchId, progress, items, outputDir: started.outputDir };
  }

  describe('redirects: configured headers never cross origins', () => {
    it('does not follow a 307 to another origin: that origin receives no request at all', async () => {
      const other = track(
        await startScriptedTarget((_req, res) => res.writeHead(201).end('{"from":"other origin"}')),
      );
      const first = track(
        await startScriptedTarget((req, res) =>
          res.writeHead(307, { location: `${other.url}/landing${req.path}` }).end('moved'),
        ),
      );
      const { progress, items } = await runBatch(ctx, 'xorigin', [{ id: 'R1' }, { id: 'R2' }], {
        maxAttempts: 3,
        http: { url: `${first.url}/start/{id}`, headers: { 'X-Api-Key': 'key-that-stays-home' } },
      });
      expect(progress).toMatchObject({
        succeeded: 0,
        failed: 2,
        errorsByType: { PermanentTargetError: 2 },
      });
      expect(other.requests).toEqual([]);
      // One request per item: refusing the redirect is not retried.
      expect(first.requests.map((r) => r.path).sort()).toEqual(['/start/R1', '/start/R2']);
      for (const key of ['R1', 'R2']) {
        const item = items.get(key)!;
        expect(item).toMatchObject({ status: 'failed', attempts: 1, errorType: 'PermanentTargetError' });
        expect(item.errorMessage).toContain(`from ${first.origin} to another origin, ${other.origin}`);
        expect(item.errorMessage).toContain('Set the url to the final address');
        expect(item.output ?? '').not.toContain('other origin');
      }
    });

    it('does not follow a redirect of a file upload to another origin either', async () => {
      const other = track(await startScriptedTarget((_req, res) => res.writeHead(201).end('{}')));
      const first = track(
        await startScriptedTarget((req, res) =>
          res.writeHead(307, { location: `${other.url}${req.path}` }).end(),
        ),
      );
      const files = path.join(ctx.dir, 'upload-redirect');
      await mkdir(files, { recursive: true });
      await writeFile(path.join(files, 'scan.bin'), randomBytes(50_000));
      const batchId = newBatchId('upload-xorigin');
      const started = await ctx.batches.start(
        files,
        ctx.config({
          batchId,
          format: 'dir',
          maxAttempts: 3,
          http: {
            url: `${first.url}/upload/{file}`,
            bodyMode: 'raw',
            headers: { 'X-Api-Key': 'key-that-stays-home' },
          },
        }),
      );
      expect(await finalProgress(started.handle)).toMatchObject({
        failed: 1,
        errorsByType: { PermanentTargetError: 1 },
      });
      const [item] = await readItems(started.outputDir);
      expect(item).toMatchObject({ key: 'scan.bin', attempts: 1, errorType: 'PermanentTargetError' });
      expect(item!.errorMessage).toContain('uploads do not follow redirects');
      expect(first.requests.map((r) => r.path)).toEqual(['/upload/scan.bin']);
      expect(other.requests).toEqual([]);
    });

    it('follows a same-origin redirect with the same headers, method and body', async () => {
      const target = track(
        await startScriptedTarget((req, res) => {
          if (req.path.startsWith('/old/')) {
            res.writeHead(308, { location: `/new/${req.path.slice('/old/'.length)}` }).end();
          } else {
            res.writeHead(201, { 'content-type': 'application/json' }).end(`{"at":"${req.path}"}`);
          }
        }),
      );
      const { batchId, progress, items } = await runBatch(ctx, 'sameorigin', [{ id: 'S1' }], {
        http: { url: `${target.url}/old/{id}`, headers: { 'X-Api-Key': 'same-origin-key' } },
      });
      expect(progress).toMatchObject({ status: 'completed', succeeded: 1 });
      expect(items.get('S1')).toMatchObject({ attempts: 1, output: '{"at":"/new/S1"}' });
      expect(target.requests.map((r) => [r.method, r.path])).toEqual([
        ['POST', '/old/S1'],
        ['POST', '/new/S1'],
      ]);
      for (const r of target.requests) {
        expect(r.headers['x-api-key']).toBe('same-origin-key');
        expect(r.headers['idempotency-key']).toBe(`${batchId}:S1`);
        expect(JSON.parse(r.body)).toEqual({ id: 'S1' });
      }
    });

    it(`stops a same-origin redirect loop after ${MAX_REDIRECTS} hops, without retrying`, async () => {
      const target = track(
        await startScriptedTarget((_req, res) => res.writeHead(302, { location: '/loop' }).end()),
      );
      const { progress, items } = await runBatch(ctx, 'loop', [{ id: 'L1' }], {
        maxAttempts: 3,
        http: { url: `${target.url}/loop`, method: 'GET' },
      });
      expect(progress).toMatchObject({ succeeded: 0, failed: 1, errorsByType: { PermanentTargetError: 1 } });
      expect(items.get('L1')).toMatchObject({ attempts: 1, errorType: 'PermanentTargetError' });
      expect(items.get('L1')!.errorMessage).toContain(`redirected more than ${MAX_REDIRECTS} times`);
      expect(target.requests).toHaveLength(1 + MAX_REDIRECTS);
    });
  });

  describe('keys and requests HTTP cannot carry', () => {
    it('sends keys with a character above U+00FF or a line break once, percent-encoded', async () => {
      const target = track(
        await startScriptedTarget((_req, res) =>
          res.writeHead(201, { 'content-type': 'application/json' }).end('{}'),
        ),
      );
      const keys = ['отчёт.pdf', 'line\nbreak', '写真.jpg', 'plain-key_1', 'Überblick 50%.pdf'];
      const { batchId, progress, items } = await runBatch(
        ctx,
        'keys',
        keys.map((id) => ({ id })),
        { maxAttempts: 3, http: { url: `${target.url}/items` } },
      );
      expect(progress).toMatchObject({ status: 'completed', succeeded: keys.length });
      // Exactly one request per key, with this exact header (Node reads header bytes as Latin-1).
      const sent = new Map(
        target.requests.map((r) => [(JSON.parse(r.body) as { id: string }).id, r.headers['idempotency-key']]),
      );
      expect(target.requests).toHaveLength(keys.length);
      expect(Object.fromEntries(sent)).toEqual({
        'отчёт.pdf': `${batchId}:%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf`,
        'line\nbreak': `${batchId}:line%0Abreak`,
        '写真.jpg': `${batchId}:%E5%86%99%E7%9C%9F.jpg`,
        // Keys HTTP could always carry go out byte for byte as before (Latin-1 and % included).
        'plain-key_1': `${batchId}:plain-key_1`,
        'Überblick 50%.pdf': `${batchId}:Überblick 50%.pdf`,
      });
      // The encoding is reversible.
      for (const key of ['отчёт.pdf', 'line\nbreak', '写真.jpg']) {
        expect(decodeURIComponent(String(sent.get(key)))).toBe(`${batchId}:${key}`);
      }
      for (const key of keys) expect(items.get(key)).toMatchObject({ status: 'succeeded', attempts: 1 });
    });

    it('fails at once, naming the header but not its value, when a header secret holds a line break', async () => {
      const secret = 'sk-h23-secret\r\nx-injected: 1';
      secretCtx = await createTestContext('http-hostile-secret');
      await secretCtx.startWorker({ env: { ...process.env, H23_TOKEN: secret } });
      const target = track(await startScriptedTarget((_req, res) => res.writeHead(201).end('{}')));
      const { progress, items } = await runBatch(secretCtx, 'badheader', [{ id: 'H1' }], {
        maxAttempts: 4,
        http: { url: `${target.url}/h`, headers: { 'X-Api-Key': '${env:H23_TOKEN}' } },
      });
      expect(progress).toMatchObject({ succeeded: 0, failed: 1, errorsByType: { InputError: 1 } });
      const item = items.get('H1')!;
      expect(item).toMatchObject({ attempts: 1, errorType: 'InputError' });
      expect(item.errorMessage).toContain('header x-api-key: its value holds a line break');
      expect(item.errorMessage).not.toContain('sk-h23-secret');
      expect(target.requests).toEqual([]);
    });

    it('fails at once with an input error for a URL that cannot be sent, not as a network error', async () => {
      const { progress, items } = await runBatch(ctx, 'badurl', [{ id: 'U1' }, { id: 'U2' }], {
        maxAttempts: 4,
        http: { url: 'http://127.0.0.1:99999/{id}' },
      });
      expect(progress).toMatchObject({ failed: 2, errorsByType: { InputError: 2 } });
      for (const key of ['U1', 'U2']) {
        expect(items.get(key)).toMatchObject({ attempts: 1, errorType: 'InputError' });
        expect(items.get(key)!.errorMessage).toContain(`http://127.0.0.1:99999/${key} is not a valid URL`);
      }
    });
  });

  describe('answers cut short', () => {
    it('retries an answer whose connection drops mid-body; the next step never sees a partial one', async () => {
      const full = JSON.stringify({ patientId: 'p-77', padding: 'x'.repeat(200) });
      const target = track(
        await startScriptedTarget((req, res) => {
          if (req.path.startsWith('/register/')) {
            res.writeHead(201, { 'content-type': 'application/json', 'content-length': String(full.length) });
            if (req.nth === 1) {
              res.write(full.slice(0, 20));
              setTimeout(() => res.destroy(), 50);
            } else res.end(full);
          } else res.writeHead(201).end('{}');
        }),
      );
      const { progress, items } = await runBatch(ctx, 'dropped', [{ id: 'D1' }], {
        maxAttempts: 3,
        steps: [
          { name: 'register', processor: 'http', http: { url: `${target.url}/register/{id}` } },
          {
            name: 'submit',
            processor: 'http',
            http: { url: `${target.url}/submit`, body: '{"patientId": "{steps.register.body.patientId}"}' },
          },
        ],
      });
      expect(progress).toMatchObject({ status: 'completed', succeeded: 1 });
      expect(items.get('D1')).toMatchObject({
        steps: [
          { name: 'register', attempts: 2 },
          { name: 'submit', attempts: 1 },
        ],
      });
      const submits = target.requests.filter((r) => r.path === '/submit');
      expect(submits.map((r) => JSON.parse(r.body) as unknown)).toEqual([{ patientId: 'p-77' }]);
      expect(target.requests.filter((r) => r.path === '/register/D1')).toHaveLength(2);
    });

    it('retries an answer whose body stalls past the timeout, and fails (retryable) when it always does', async () => {
      // Never finished: the client's timeout ends it (the test's teardown at the latest).
      const stall = (res: ServerResponse) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"patientId":');
      };
      const target = track(
        await startScriptedTarget((req, res) => {
          if (req.path === '/once/T1' && req.nth > 1) res.writeHead(200).end('{"patientId":"p-1"}');
          else stall(res);
        }),
      );
      const once1 = await runBatch(ctx, 'stall-once', [{ id: 'T1' }], {
        maxAttempts: 3,
        http: { url: `${target.url}/once/{id}`, timeoutMs: 1_000 },
      });
      expect(once1.progress).toMatchObject({ status: 'completed', succeeded: 1 });
      expect(once1.items.get('T1')).toMatchObject({ attempts: 2, output: '{"patientId":"p-1"}' });
      const [result] = await activityResults<StepResult>(ctx.client, `${once1.batchId}/T1`);
      expect(result).toMatchObject({ attempt: 2, body: { patientId: 'p-1' } });

      const always = await runBatch(ctx, 'stall-always', [{ id: 'T2' }], {
        maxAttempts: 2,
        http: { url: `${target.url}/always/{id}`, timeoutMs: 1_000 },
      });
      expect(always.progress).toMatchObject({
        succeeded: 0,
        failed: 1,
        errorsByType: { TransientTargetError: 1 },
      });
      const item = always.items.get('T2')!;
      expect(item).toMatchObject({ status: 'failed', attempts: 2, errorType: 'TransientTargetError' });
      expect(item.errorMessage).toContain('answered 200 but its body was cut short after 13 bytes');
      expect(target.requests.filter((r) => r.path === '/always/T2')).toHaveLength(2);
    });
  });

  describe('answers that do not fit', () => {
    it('records a 10,000-deep JSON answer once: succeeded, parsed body dropped with a warning', async () => {
      const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
      const target = track(
        await startScriptedTarget((_req, res) =>
          res.writeHead(201, { 'content-type': 'application/json' }).end(deep),
        ),
      );
      const { batchId, progress, items, outputDir } = await runBatch(ctx, 'deep', [{ id: 'J1' }], {
        maxAttempts: 3,
        // costFrom points into the nesting: its warning shows the value found, too deep to print.
        http: { url: `${target.url}/deep/{id}`, costFrom: '/a/a' },
      });
      expect(progress).toMatchObject({ status: 'completed', succeeded: 1 });
      expect(target.requests).toHaveLength(1); // a successful call is never repeated
      const item = items.get('J1')!;
      expect(item).toMatchObject({ status: 'succeeded', attempts: 1, httpStatus: 201 });
      expect(item.output).toMatch(/^\{"a":\{"a":/);
      const [result] = await activityResults<StepResult>(ctx.client, `${batchId}/J1`);
      expect(result).toMatchObject({ attempt: 1, httpStatus: 201 });
      expect(result!.body).toBeUndefined();
      const warnings = (await batchLogLines(outputDir)).filter((l) => l.itemKey === 'J1' && l.level === 40);
      expect(warnings.map((l) => l.msg)).toEqual([
        expect.stringContaining('the answer nests deeper than 100 levels'),
        expect.stringContaining('costFrom /a/a: the answer holds no cost there'),
      ]);
    });

    it('fails an answer past http.maxResponseBytes without retrying; one within it succeeds', async () => {
      const target = track(
        await startScriptedTarget((req, res) =>
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ id: req.path, pad: 'p'.repeat(req.path.endsWith('big') ? 3_000 : 500) })),
        ),
      );
      const { progress, items } = await runBatch(ctx, 'cap', [{ id: 'big' }, { id: 'small' }], {
        maxAttempts: 3,
        http: { url: `${target.url}/{id}`, maxResponseBytes: 2_048 },
      });
      expect(progress).toMatchObject({ succeeded: 1, failed: 1, errorsByType: { ResponseTooLarge: 1 } });
      expect(items.get('small')).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect(items.get('big')).toMatchObject({
        status: 'failed',
        attempts: 1,
        errorType: 'ResponseTooLarge',
      });
      expect(items.get('big')!.errorMessage).toContain('with a body larger than 2048 bytes (decompressed)');
      expect(items.get('big')!.errorMessage).toContain('Raise http.maxResponseBytes');
      expect(target.requests.map((r) => r.path).sort()).toEqual(['/big', '/small']);
    });

    /** Runs `batch` while sampling this process's RSS (the worker runs in it); the peak growth. */
    async function rssGrowth(batch: () => Promise<void>): Promise<number> {
      global.gc?.();
      const before = process.memoryUsage().rss;
      let peak = before;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      try {
        await batch();
      } finally {
        clearInterval(timer);
      }
      return Math.max(peak, process.memoryUsage().rss) - before;
    }

    it('stops reading an endless body at the default 10 MiB cap: RSS stays bounded, no retry', async () => {
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const written: Promise<number>[] = [];
      const target = track(
        await startScriptedTarget((_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          written.push(writeEndlessly(res, chunk, 30_000));
        }),
      );
      let run!: Awaited<ReturnType<typeof runBatch>>;
      const started = Date.now();
      const growth = await rssGrowth(async () => {
        run = await runBatch(ctx, 'endless', [{ id: 'E1' }], {
          maxAttempts: 3,
          http: { url: `${target.url}/endless/{id}`, timeoutMs: 60_000 },
        });
      });
      expect(run.progress).toMatchObject({ succeeded: 0, failed: 1, errorsByType: { ResponseTooLarge: 1 } });
      expect(run.items.get('E1')).toMatchObject({ attempts: 1, errorType: 'ResponseTooLarge' });
      expect(run.items.get('E1')!.errorMessage).toContain(`with a body larger than ${10 * MiB} bytes`);
      expect(target.requests).toHaveLength(1);
      // The client went away at the cap: the server stopped long before its 30 s bound.
      const bytes = await written[0]!;
      expect(bytes).toBeGreaterThan(10 * MiB);
      expect(bytes).toBeLessThan(100 * MiB);
      expect(Date.now() - started).toBeLessThan(25_000);
      expect(growth).toBeLessThan(200 * MiB);
    });

    it('stops inflating a gzip bomb at the cap: counted after decompression, RSS bounded', async () => {
      // 1 GiB of zeros gzips to about 1 MiB: the answer is small on the wire, huge once inflated.
      const gzip = createGzip({ level: 9 });
      const parts: Buffer[] = [];
      gzip.on('data', (c: Buffer) => parts.push(c));
      const zeros = Buffer.alloc(MiB);
      for (let i = 0; i < 1024; i++) if (!gzip.write(zeros)) await once(gzip, 'drain');
      gzip.end();
      await once(gzip, 'end');
      const bomb = Buffer.concat(parts);
      expect(bomb.length).toBeLessThan(2 * MiB);
      const target = track(
        await startScriptedTarget((_req, res) =>
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(bomb),
        ),
      );
      let run!: Awaited<ReturnType<typeof runBatch>>;
      const growth = await rssGrowth(async () => {
        run = await runBatch(ctx, 'gzipbomb', [{ id: 'G1' }], {
          maxAttempts: 3,
          http: { url: `${target.url}/bomb/{id}` },
        });
      });
      expect(run.progress).toMatchObject({ succeeded: 0, failed: 1, errorsByType: { ResponseTooLarge: 1 } });
      expect(run.items.get('G1')).toMatchObject({ attempts: 1, errorType: 'ResponseTooLarge' });
      expect(target.requests).toHaveLength(1);
      expect(growth).toBeLessThan(200 * MiB);
    });

    it('reads only the start of an endless error answer: classified by its status, RSS bounded', async () => {
      const chunk = Buffer.alloc(64 * 1024, 'e');
      const written: Promise<number>[] = [];
      const target = track(
        await startScriptedTarget((_req, res) => {
          res.writeHead(503, { 'content-type': 'text/plain' });
          written.push(writeEndlessly(res, chunk, 30_000));
        }),
      );
      let run!: Awaited<ReturnType<typeof runBatch>>;
      const growth = await rssGrowth(async () => {
        run = await runBatch(ctx, 'endless503', [{ id: 'F1' }], {
          maxAttempts: 2,
          http: { url: `${target.url}/busy/{id}`, timeoutMs: 60_000 },
        });
      });
      expect(run.progress).toMatchObject({
        succeeded: 0,
        failed: 1,
        errorsByType: { TransientTargetError: 1 },
      });
      expect(run.items.get('F1')).toMatchObject({ attempts: 2, errorType: 'TransientTargetError' });
      expect(run.items.get('F1')!.errorMessage).toMatch(/answered 503 Service Unavailable: e{20}/);
      expect(target.requests).toHaveLength(2);
      for (const w of written) expect(await w).toBeLessThan(50 * MiB);
      expect(growth).toBeLessThan(200 * MiB);
    });
  });
});

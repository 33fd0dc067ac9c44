// The http processor on a real dev server against real local endpoints: transient faults retried
// (Retry-After honoured) under one Idempotency-Key per item, 4xx failing at once, `${env:NAME}`
// header secrets resolved on the worker only, files of a directory source uploaded raw and as
// multipart, and a two-step pipeline whose second step uses the first step's answer.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import type { StepResult } from '../../workflows/types';
import { createTestContext, type TestContext } from '../helpers/context';
import { quietTarget, readItems, readSummary, finalProgress } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { batchLogLines, DEBUG, TRACE } from '../helpers/log-lines';
import { startHeaderRecorder, type HeaderRecorder } from '../helpers/header-recorder';
import { activityResults, batchHistoryTexts } from '../helpers/history';
import { readTree } from '../helpers/tree';
import { startUploadServer, type UploadServer } from '../helpers/upload-server';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('http processor against real endpoints', () => {
  let ctx: TestContext;
  let secretCtx: TestContext;
  const closers: (() => Promise<void>)[] = [];
  const track = <T extends { close(): Promise<void> }>(s: T): T => {
    closers.push(() => s.close());
    return s;
  };

  beforeAll(async () => {
    // The secret must reach the secret worker only: this process (and so the plain worker) has none.
    delete process.env.API_TOKEN;
    ctx = await createTestContext('proc-http');
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
    await secretCtx?.close();
    await Promise.all(closers.map((c) => c()));
  });

  it('retries 503s and 429s (waiting Retry-After) under one Idempotency-Key per item; a 4xx fails at once', async () => {
    // No random 503s; about a third of the requests that pass the per-item controls answer 429 with
    // Retry-After: 1. The seed makes the fault sequence reproducible.
    const target: TargetApi = track(
      await startTargetApi({
        failureRate: 0,
        rateLimitRate: 0.3,
        retryAfterSeconds: 1,
        latencyMs: [1, 5],
        seed: 7,
      }),
    );
    const rows = Array.from({ length: 16 }, (_, i) => ({
      id: `K${String(i + 1).padStart(4, '0')}`,
      failAttempts: i < 4 ? 2 : 0,
      status: i === 14 ? 422 : i === 15 ? 404 : 0,
    }));
    const batchId = `http-faults-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, rows);
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      concurrency: 16,
      maxAttempts: 8,
      http: { url: `${target.url}/api/items{?failAttempts,status}` },
    });
    const started = await ctx.batches.start(csv, config);
    const result = await finalProgress(started.handle);
    expect(result).toMatchObject({
      status: 'partial_failure',
      total: 16,
      succeeded: 14,
      failed: 2,
      skipped: 0,
    });
    expect(result.errorsByType).toEqual({ PermanentTargetError: 2 });

    // One record per item key: every attempt of an item carried the same `<batchId>:<key>`.
    const records = new Map(target.received().map((r) => [r.idempotencyKey, r]));
    expect([...records.keys()].sort()).toEqual(rows.map((r) => `${batchId}:${r.id}`));
    const stats = target.stats();
    // ...and no request carried any other key (the target served this batch only).
    expect([...records.values()].reduce((n, r) => n + r.attempts, 0)).toBe(stats.requests);
    expect(stats.byStatus['503']).toBe(8); // 4 items × failAttempts 2
    expect(stats.byStatus['429'] ?? 0).toBeGreaterThan(0);
    expect(stats.byStatus['201']).toBe(14);

    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    let rateLimited = 0;
    for (const row of rows) {
      const rec = records.get(`${batchId}:${row.id}`)!;
      const item = items.get(row.id)!;
      if (row.status) {
        // A 4xx is permanent: one request, no effect, the item failed after 1 attempt.
        expect(rec).toMatchObject({ attempts: 1, effects: 0, lastStatus: row.status });
        expect(item).toMatchObject({
          status: 'failed',
          attempts: 1,
          errorType: 'PermanentTargetError',
          httpStatus: row.status,
        });
        continue;
      }
      expect(rec.effects).toBe(1);
      expect(rec.lastStatus).toBe(201);
      expect(item).toMatchObject({ status: 'succeeded', httpStatus: 201 });
      expect(item.attempts).toBe(rec.attempts);
      if (row.failAttempts) {
        expect(rec.attempts).toBeGreaterThanOrEqual(3);
      } else if (rec.attempts > 1) {
        // Only 429s can have failed these: each retry waited Retry-After (1 s), not the 100 ms backoff.
        const gap = Date.parse(rec.lastAt) - Date.parse(rec.firstAt);
        expect(gap).toBeGreaterThanOrEqual((rec.attempts - 1) * 1_000 - 20);
        rateLimited += 1;
      }
    }
    // The target answered 429s (the seeded fault sequence gives several). Which items they hit
    // depends on the order the 16 concurrent requests arrive in: when they all hit items that also
    // fail on purpose, the Retry-After check above ran for none, so only the 429s are required here.
    expect(rateLimited + (target.stats().byStatus['429'] ?? 0)).toBeGreaterThan(0);
  });

  it('resolves a ${env:API_TOKEN} header on the worker: sent for real, never in history, logs or outputs', async () => {
    const secret = `sk-live-${randomUUID()}`;
    secretCtx = await createTestContext('proc-http-secret');
    await secretCtx.startWorker({ env: { ...process.env, API_TOKEN: secret } });
    // Every key fails once with 503, so failed attempts (messages in history and logs) are covered too.
    const recorder: HeaderRecorder = track(await startHeaderRecorder({ failFirst: 1 }));
    const rows = [
      { id: 'S1', name: 'one' },
      { id: 'S2', name: 'two' },
      { id: 'S3', name: 'three' },
    ];
    const http = {
      url: `${recorder.url}/hooks/{id}`,
      headers: { Authorization: 'Bearer ${env:API_TOKEN}', 'X-Plain': 'visible' },
    };
    const batchId = `http-secret-${Date.now()}`;
    const csv = await writeCsv(secretCtx.dir, `${batchId}.csv`, rows);
    const started = await secretCtx.batches.start(csv, secretCtx.config({ batchId, idColumn: 'id', http }));
    const result = await finalProgress(started.handle);
    expect(result).toMatchObject({ status: 'completed', total: 3, succeeded: 3 });

    // The endpoint got the real header on every attempt (2 per item).
    expect(recorder.requests).toHaveLength(6);
    for (const r of recorder.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${secret}`);
      expect(r.headers['x-plain']).toBe('visible');
      expect(r.idempotencyKey).toMatch(new RegExp(`^${batchId}:S[123]$`));
    }

    const forms = [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(`Bearer ${secret}`)];
    const leaks = (text: string): string[] => forms.filter((f) => text.includes(f));

    // Workflow histories: the parent and every item, with payloads decoded to text.
    const histories = await batchHistoryTexts(secretCtx.client, batchId);
    expect(histories).toHaveLength(4);
    for (const h of histories) {
      expect({ workflowId: h.workflowId, leaks: leaks(h.text) }).toEqual({
        workflowId: h.workflowId,
        leaks: [],
      });
    }
    // Positive control: the decoding works, and the header travels only as its reference.
    const parent = histories.find((h) => h.workflowId === batchId)!;
    expect(parent.text).toContain(recorder.url);
    expect(parent.text).toContain('Bearer ${env:API_TOKEN}');

    // Worker logs (this file's Temporal runtime logs go to the first context's log).
    const secretLog = await readFile(path.join(secretCtx.dir, 'worker.log'), 'utf8');
    expect(secretLog).toContain(batchId); // it did log this batch, failed attempts included
    expect(secretLog).toContain('step attempt failed');
    expect(leaks(secretLog)).toEqual([]);
    expect(leaks(await readFile(path.join(ctx.dir, 'worker.log'), 'utf8').catch(() => ''))).toEqual([]);

    // Every file the batch wrote, and the staged source.
    const outputs = await readTree(started.outputDir);
    expect(outputs.map((f) => path.relative(started.outputDir, f.file))).toContain(
      path.join('results', 'items.jsonl'),
    );
    for (const f of [...outputs, ...(await readTree(secretCtx.home))]) {
      expect({ file: f.file, leaks: leaks(f.bytes.toString('utf8')) }).toEqual({ file: f.file, leaks: [] });
    }

    // Resolution happens on the worker: the same batch on a worker without API_TOKEN fails at once,
    // naming the variable (and nothing else is sent).
    const before = recorder.requests.length;
    const noTokenId = `http-notoken-${Date.now()}`;
    const csv2 = await writeCsv(ctx.dir, `${noTokenId}.csv`, rows.slice(0, 1));
    const started2 = await ctx.batches.start(csv2, ctx.config({ batchId: noTokenId, idColumn: 'id', http }));
    const result2 = await finalProgress(started2.handle);
    expect(result2).toMatchObject({ status: 'failed', failed: 1, errorsByType: { InputError: 1 } });
    const [item] = await readItems(started2.outputDir);
    expect(item).toMatchObject({ attempts: 1, errorType: 'InputError' });
    expect(item!.errorMessage).toContain('API_TOKEN');
    expect(recorder.requests.length).toBe(before);
  });

  it('uploads the files of a directory source as multipart with their metadata, and raw', async () => {
    const upload: UploadServer = track(await startUploadServer());
    const root = path.join(ctx.dir, 'upload-src');
    const files = path.join(root, 'files');
    await mkdir(path.join(files, 'sub'), { recursive: true });
    const specs = [
      { rel: 'tiny.bin', size: 1, title: 'Tiny', owner: 'ana' },
      { rel: 'empty.bin', size: 0, title: 'Empty', owner: 'ed' },
      { rel: 'small.bin', size: 10_000, title: 'Überblick, Teil 1', owner: 'bo' },
      { rel: 'medium.dat', size: 300_000, title: 'Say "hi"', owner: 'cy' },
      { rel: 'sub/large.bin', size: 2_500_000, title: 'Large one', owner: 'di' },
    ];
    const expected = new Map<string, { sha: string; size: number; title: string; owner: string }>();
    for (const s of specs) {
      const bytes = randomBytes(s.size);
      await writeFile(path.join(files, s.rel), bytes);
      expected.set(s.rel, { sha: sha256(bytes), size: s.size, title: s.title, owner: s.owner });
    }
    // Joined by base name (sub/large.bin as large.bin).
    const metadata = await writeCsv(
      root,
      'meta.csv',
      specs.map((s) => ({ file: path.posix.basename(s.rel), title: s.title, owner: s.owner })),
    );

    const run = async (bodyMode: 'multipart' | 'raw') => {
      const batchId = `http-${bodyMode}-${Date.now()}`;
      const config = ctx.config({
        batchId,
        format: 'dir',
        metadata,
        http: { url: `${upload.url}/upload/{file}`, bodyMode, fileField: 'document' },
      });
      const started = await ctx.batches.start(files, config);
      expect(started.total).toBe(5);
      const result = await finalProgress(started.handle);
      expect(result).toMatchObject({ status: 'completed', total: 5, succeeded: 5, failed: 0 });
      const mine = upload.uploads.filter((u) => u.idempotencyKey.startsWith(`${batchId}:`));
      expect(mine.map((u) => u.idempotencyKey.slice(batchId.length + 1)).sort()).toEqual(
        [...expected.keys()].sort(),
      );
      return mine;
    };

    for (const u of await run('multipart')) {
      const rel = u.idempotencyKey.split(':')[1]!;
      const want = expected.get(rel)!;
      expect(u).toMatchObject({
        mode: 'multipart',
        sha256: want.sha,
        size: want.size,
        fileName: path.posix.basename(rel),
      });
      expect(u.fields).toMatchObject({ title: want.title, owner: want.owner, file: rel });
      // The file's absolute path on the worker is not a form field.
      expect(u.fields).not.toHaveProperty('path');
    }
    for (const u of await run('raw')) {
      const want = expected.get(u.idempotencyKey.split(':')[1]!)!;
      expect(u).toMatchObject({ mode: 'raw', sha256: want.sha, size: want.size });
    }
  });

  it("runs a pipeline: register once, submit retried, submit's body carries register's id", async () => {
    const target = track(await quietTarget());
    const rows = Array.from({ length: 4 }, (_, i) => ({
      id: `P${i + 1}`,
      name: `Patient ${i + 1}`,
      failAttempts: 1,
    }));
    const batchId = `http-pipeline-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, rows);
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      steps: [
        { name: 'register', processor: 'http', http: { url: `${target.url}/api/register` } },
        {
          name: 'submit',
          processor: 'http',
          http: {
            url: `${target.url}/api/submit{?failAttempts}`,
            body: '{"patientId": "{steps.register.body.id}"}',
          },
        },
      ],
    });
    const started = await ctx.batches.start(csv, config);
    const result = await finalProgress(started.handle);
    expect(result).toMatchObject({ status: 'completed', total: 4, succeeded: 4, failed: 0 });
    expect(Object.keys(result.stepLatencyMs ?? {}).sort()).toEqual(['register', 'submit']);
    expect(Object.keys((await readSummary(started.outputDir)).stepLatencyMs ?? {}).sort()).toEqual([
      'register',
      'submit',
    ]);

    const records = new Map(target.received().map((r) => [r.idempotencyKey, r]));
    expect(records.size).toBe(8);
    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    const registeredIds = new Set<string>();
    for (const row of rows) {
      const register = records.get(`${batchId}:${row.id}:register`);
      const submit = records.get(`${batchId}:${row.id}:submit`);
      // Step 1 ran exactly once at the target; step 2 failed once (503) and was retried.
      expect(register).toMatchObject({
        attempts: 1,
        effects: 1,
        path: '/api/register',
        body: { id: row.id, name: row.name },
      });
      expect(submit).toMatchObject({ attempts: 2, effects: 1, path: '/api/submit' });

      // What register answered (recorded in the item's history) is what submit sent.
      const [reg, sub] = await activityResults<StepResult>(ctx.client, `${batchId}/${row.id}`);
      expect(reg).toMatchObject({ name: 'register', attempt: 1 });
      expect(sub).toMatchObject({ name: 'submit', attempt: 2 });
      const id = (reg!.body as { id?: string }).id!;
      expect(id).toMatch(/^obj_\d+$/);
      expect(submit!.body).toEqual({ patientId: id });
      registeredIds.add(id);

      expect(items.get(row.id)).toMatchObject({
        status: 'succeeded',
        attempts: 2,
        steps: [
          { name: 'register', attempts: 1 },
          { name: 'submit', attempts: 2 },
        ],
      });
    }
    expect(registeredIds.size).toBe(4);
  });

  it('logs method, masked URL, status and latency at debug; masked headers and cut bodies at trace', async () => {
    // Answers 201 with a JSON body far longer than a log line keeps, a secret field first, and a cookie.
    const answerToken = `tok-${randomUUID()}`;
    const answer = JSON.stringify({ token: answerToken, padding: 'p'.repeat(6_000) });
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json', 'set-cookie': 'session=cookie-secret-9' });
        res.end(answer);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const batchId = `http-trace-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'T1', name: 'one' }]);
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      http: {
        url: `${base}/things/{id}?api_key=url-secret-123&view=full`,
        headers: { Authorization: 'Bearer header-secret-456', 'X-Trace': 'visible' },
      },
      logLevels: { processor: 'trace' },
    });
    const started = await ctx.batches.start(csv, config);
    expect(await finalProgress(started.handle)).toMatchObject({ status: 'completed', succeeded: 1 });

    const lines = (await batchLogLines(started.outputDir)).filter((l) => l.itemKey === 'T1');
    const url = `${base}/things/T1?api_key=****&view=full`;
    const item = { batchId, itemKey: 'T1', op: 'processor', step: 'process', attempt: 1 };

    const debug = lines.filter((l) => l.level === DEBUG);
    expect(debug).toHaveLength(1);
    expect(debug[0]).toMatchObject({ ...item, method: 'POST', url, status: 201 });
    expect(debug[0]!.latencyMs).toEqual(expect.any(Number));
    expect(debug[0]!.msg).toMatch(new RegExp(`^http POST ${escape(url)} answered 201 in \\d+ ms$`));

    const [request, response] = lines.filter((l) => l.level === TRACE);
    expect(request).toMatchObject({
      ...item,
      msg: `http request POST ${url}`,
      requestHeaders: {
        authorization: '****',
        'x-trace': 'visible',
        'content-type': 'application/json',
        'idempotency-key': `${batchId}:T1`,
      },
      requestBody: '{"id":"T1","name":"one"}',
    });
    // Cut at 4,096 characters, saying so; the answer's secret field masked before cutting.
    const masked = JSON.stringify({ token: '****', padding: 'p'.repeat(6_000) });
    expect(response).toMatchObject({
      ...item,
      msg: `http response 201 from POST ${url}`,
      status: 201,
      responseHeaders: { 'set-cookie': '****', 'content-type': 'application/json' },
      responseBody: `${masked.slice(0, 4_096)}… [truncated: first 4096 of ${masked.length} characters]`,
      responseBodyTruncated: true,
      responseBodyChars: masked.length,
    });
    const leaks = ['url-secret-123', 'header-secret-456', 'cookie-secret-9', answerToken];
    const text = JSON.stringify(lines);
    expect(leaks.filter((secret) => text.includes(secret))).toEqual([]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

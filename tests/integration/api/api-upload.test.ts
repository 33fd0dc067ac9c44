// Uploads and idempotency through the service: a multipart document ingestion (20 files and a JSON
// metadata mapping) answers 202 at once and runs to exact counts; too many files or bytes are 413
// with nothing started and nothing left on disk; hostile names are 400; one Idempotency-Key gives
// one batch, sequentially or concurrently, for start and retry-failed alike.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchProgress } from '../../../workflows/types';
import type { TargetApi } from '../../../examples/target-api/server';
import { startIntakeTarget, type IntakeTarget } from '../../../examples/documents/intake-target';
import { startApiService, type ApiService } from '../../helpers/api-service';
import { engineHarness, type EngineHarness } from '../../helpers/harness';

/** A multipart body: the settings part, then files by relative path, then an optional metadata file. */
function form(
  settings: unknown,
  files: [string, string | Uint8Array][],
  metadata?: [string, string],
): FormData {
  const f = new FormData();
  f.append('settings', JSON.stringify(settings));
  for (const [name, content] of files) f.append('files', new Blob([content]), name);
  if (metadata) f.append('metadata', new Blob([metadata[1]]), metadata[0]);
  return f;
}

describe('service: uploads and idempotency', () => {
  let h: EngineHarness;
  let api: ApiService;
  let small: ApiService;
  let target: TargetApi;
  let intake: IntakeTarget;
  let token: string;
  const uploads = () => path.join(h.ctx.dir, 'api-uploads');
  const smallUploads = () => path.join(h.ctx.dir, 'small-uploads');

  beforeAll(async () => {
    h = await engineHarness('api-upload');
    target = await h.target();
    intake = await startIntakeTarget({ faultRate: 0 });
    const presets = {
      intake: {
        description: 'document intake',
        processor: 'http',
        http: { url: `${intake.url}/documents`, bodyMode: 'multipart', fileField: 'document' },
      },
      items: { processor: 'http', http: { url: `${target.url}/api/items{?status}` } },
    };
    api = await startApiService(h.ctx, { maxAttempts: 2, api: { presets } }, { app: ['read', 'submit'] });
    small = await startApiService(
      h.ctx,
      { api: { presets, maxFiles: 3, maxUploadBytes: 10_000, uploadsDir: smallUploads() } },
      { app: ['submit'] },
    );
    token = api.tokens.app!;
  });
  afterAll(async () => {
    await api?.close();
    await small?.close();
    await h?.close();
    await intake?.close();
  });

  const result = (batchId: string) =>
    h.ctx.client.workflow.getHandle(batchId).result() as Promise<BatchProgress>;
  const exists = (batchId: string) =>
    h.ctx.client.workflow
      .getHandle(batchId)
      .describe()
      .then(
        () => true,
        () => false,
      );
  const parents = async () =>
    (await h.ctx.client.workflow.count(`WorkflowType = "batchWorkflow" AND TaskQueue = "${h.ctx.taskQueue}"`))
      .count;
  /** Visibility is eventually consistent: the count once it has stayed the same for a second. */
  const settledParents = async () => {
    let last = await parents();
    for (;;) {
      await new Promise((r) => setTimeout(r, 1_000));
      const now = await parents();
      if (now === last) return now;
      last = now;
    }
  };

  it('ingests 20 documents with a JSON metadata mapping: 202 in under 1 s, the 2 refused ones named', async () => {
    const batchId = `docs-${Date.now()}`;
    const files: [string, string][] = Array.from({ length: 20 }, (_, i) => {
      const n = String(i + 1).padStart(2, '0');
      return [`inbox/${i < 10 ? 'scans' : 'letters'}/doc-${n}.pdf`, `%PDF-1.4 document ${n}\n%%EOF\n`];
    });
    const mapping = Object.fromEntries(
      files.map(([name], i) => {
        const n = String(i + 1).padStart(2, '0');
        // Two documents lack the patient id the intake service requires: it refuses them (422).
        const patient = n === '07' || n === '13' ? '' : `P${n}`;
        return [path.posix.basename(name), { doc_id: `D${n}`, patient_id: patient, doc_type: 'letter' }];
      }),
    );
    const t0 = performance.now();
    const res = await api.call('POST', '/v1/batches', {
      token,
      body: form({ preset: 'intake', batchId, label: 'documents', settings: { idColumn: 'doc_id' } }, files, [
        'metadata.json',
        JSON.stringify(mapping),
      ]),
    });
    const elapsed = performance.now() - t0;
    expect(res.status, res.text).toBe(202);
    expect(elapsed).toBeLessThan(1_000);
    expect(res.body).toMatchObject({ batchId, total: 20, invalid: 0, warnings: [], status: 'running' });
    const final = await result(batchId);
    expect(final).toMatchObject({ total: 20, succeeded: 18, failed: 2, status: 'partial_failure' });
    const status = await api.call('GET', `/v1/batches/${batchId}`, { token });
    expect(status.body).toMatchObject({ status: 'partial_failure', total: 20, succeeded: 18, failed: 2 });
    // One request tells an application what failed.
    const withFailed = await api.call<{ failedItems: { key: string; errorType: string; error: string }[] }>(
      'GET',
      `/v1/batches/${batchId}?include=failed`,
      { token },
    );
    expect(withFailed.status).toBe(200);
    // In source order: letters/ sorts before scans/.
    expect(withFailed.body.failedItems.map((f) => f.key)).toEqual(['D13', 'D07']);
    expect(withFailed.body.failedItems[1]!.error).toContain('form field patient_id is missing');
    const failures = await h.ctx.batches.failures(batchId);
    expect(failures.map((f) => f.key).sort()).toEqual(['D07', 'D13']);
    expect(failures[0]!.errorMessage).toContain('form field patient_id is missing');
    expect(intake.stored()).toHaveLength(18);
    // The files are on the shared storage, byte for byte, in the batch's own folder.
    const stored = path.join(uploads(), batchId, 'files', 'inbox', 'letters', 'doc-13.pdf');
    expect(await readFile(stored, 'utf8')).toBe('%PDF-1.4 document 13\n%%EOF\n');
    expect(await readdir(path.join(uploads(), '.incoming'))).toEqual([]);
  }, 120_000);

  it('answers 413 for too many files or bytes: nothing starts, nothing stays on disk', async () => {
    const many = `too-many-${Date.now()}`;
    const res = await small.call('POST', '/v1/batches', {
      token: small.tokens.app,
      body: form({ preset: 'intake', batchId: many }, [
        ['a.pdf', 'a'],
        ['b.pdf', 'b'],
        ['c.pdf', 'c'],
        ['d.pdf', 'd'],
      ]),
    });
    expect(res.status, res.text).toBe(413);
    expect(res.body.detail).toBe('files: more than 3 files in one upload');
    expect(res.body.fix).toContain('api.maxFiles');

    const big = `too-big-${Date.now()}`;
    const huge = await small.call('POST', '/v1/batches', {
      token: small.tokens.app,
      body: form({ preset: 'intake', batchId: big }, [
        ['a.pdf', 'x'.repeat(6_000)],
        ['b.pdf', 'y'.repeat(6_000)],
      ]),
    });
    expect(huge.status, huge.text).toBe(413);
    expect(huge.body.detail).toBe('files: the upload is larger than 10000 bytes');
    expect(huge.body.fix).toContain('api.maxUploadBytes');

    expect(await exists(many)).toBe(false);
    expect(await exists(big)).toBe(false);
    // A settings part sent first is checked before any file is read.
    const unknown = await small.call('POST', '/v1/batches', {
      token: small.tokens.app,
      body: form({ preset: 'nope' }, [['a.pdf', 'x'.repeat(20_000)]]),
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail).toBe('preset: no preset named "nope"');

    expect(await readdir(smallUploads())).toEqual(['.incoming']);
    expect(await readdir(path.join(smallUploads(), '.incoming'))).toEqual([]);
  });

  it('refuses file names that leave the folder, hide, or repeat (400)', async () => {
    const names = [
      '../escape.pdf',
      'a/../../b.pdf',
      '/etc/passwd',
      '.env',
      'dir/.git/config',
      'a\\b.pdf',
      'C:x.pdf',
    ];
    for (const name of names) {
      const batchId = `bad-name-${Date.now()}`;
      const res = await small.call('POST', '/v1/batches', {
        token: small.tokens.app,
        body: form({ preset: 'intake', batchId }, [[name, 'x']]),
      });
      expect(res.status, name).toBe(400);
      expect(res.body.detail).toContain('files: the file name');
      expect(await exists(batchId)).toBe(false);
    }
    const twice = await small.call('POST', '/v1/batches', {
      token: small.tokens.app,
      body: form({ preset: 'intake' }, [
        ['a.pdf', 'x'],
        ['a.pdf', 'y'],
      ]),
    });
    expect(twice.status).toBe(400);
    expect(twice.body.detail).toBe('files: "a.pdf" is sent twice');
    expect(await readdir(smallUploads())).toEqual(['.incoming']);
    expect(await readdir(path.join(smallUploads(), '.incoming'))).toEqual([]);
  });

  it('gives one batch for one Idempotency-Key: resent, concurrent (JSON and multipart), and 409 for another request', async () => {
    const before = await settledParents();
    const body = { preset: 'items', items: [{ id: 'i1' }, { id: 'i2' }], settings: { idColumn: 'id' } };
    const key = `key-${Date.now()}`;
    const first = await api.call('POST', '/v1/batches', {
      token,
      json: body,
      headers: { 'idempotency-key': key },
    });
    expect(first.status, first.text).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await api.call('POST', '/v1/batches', {
      token,
      json: body,
      headers: { 'idempotency-key': key },
    });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);

    const key2 = `key2-${Date.now()}`;
    const both = await Promise.all(
      [0, 1].map(() =>
        api.call('POST', '/v1/batches', { token, json: body, headers: { 'idempotency-key': key2 } }),
      ),
    );
    expect(both.map((r) => r.status)).toEqual([202, 202]);
    expect(both[0]!.body.batchId).toBe(both[1]!.body.batchId);
    expect(both.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(1);

    const key3 = `key3-${Date.now()}`;
    const files: [string, string][] = [
      ['x/one.pdf', '%PDF-1.4 one\n%%EOF\n'],
      ['x/two.pdf', '%PDF-1.4 two\n%%EOF\n'],
    ];
    const uploads2 = await Promise.all(
      [0, 1].map(() =>
        api.call('POST', '/v1/batches', {
          token,
          body: form({ preset: 'intake' }, files, [
            'm.csv',
            'file,patient_id,doc_type\none.pdf,P1,a\ntwo.pdf,P2,b\n',
          ]),
          headers: { 'idempotency-key': key3 },
        }),
      ),
    );
    expect(uploads2.map((r) => r.status)).toEqual([202, 202]);
    expect(uploads2[0]!.body.batchId).toBe(uploads2[1]!.body.batchId);
    expect(uploads2[0]!.body.total).toBe(2);

    const other = await api.call('POST', '/v1/batches', {
      token,
      json: { ...body, items: [{ id: 'other' }] },
      headers: { 'idempotency-key': key },
    });
    expect(other.status).toBe(409);
    expect(other.body.detail).toContain(
      `Idempotency-Key "${key}" already started batch "${first.body.batchId as string}"`,
    );

    for (const id of [first.body.batchId, both[0]!.body.batchId, uploads2[0]!.body.batchId] as string[])
      expect(await result(id)).toMatchObject({ total: 2, succeeded: 2 });
    expect(await settledParents()).toBe(before + 3);
    expect(await readdir(path.join(uploads(), '.incoming'))).toEqual([]);
  }, 60_000);

  it('retries exactly the failed items once per Idempotency-Key', async () => {
    const oldId = `to-retry-${Date.now()}`;
    const res = await api.call('POST', '/v1/batches', {
      token,
      json: {
        preset: 'items',
        batchId: oldId,
        items: [{ id: 'ok1' }, { id: 'bad1', status: 422 }, { id: 'bad2', status: 422 }],
        settings: { idColumn: 'id' },
      },
    });
    expect(res.status, res.text).toBe(202);
    expect(await result(oldId)).toMatchObject({ total: 3, succeeded: 1, failed: 2 });
    const before = await settledParents();
    const key = `retry-${Date.now()}`;
    const both = await Promise.all(
      [0, 1].map(() =>
        api.call('POST', `/v1/batches/${oldId}/retry-failed`, { token, headers: { 'idempotency-key': key } }),
      ),
    );
    expect(
      both.map((r) => r.status),
      both[0]!.text,
    ).toEqual([202, 202]);
    expect(both[0]!.body.batchId).toBe(both[1]!.body.batchId);
    expect(both[0]!.body.total).toBe(2);
    const retried = await result(both[0]!.body.batchId as string);
    expect(retried).toMatchObject({ total: 2, failed: 2 });
    const desc = await h.ctx.client.workflow.getHandle(both[0]!.body.batchId as string).describe();
    expect(desc.memo).toMatchObject({ api: true, retryOf: oldId });
    expect(await settledParents()).toBe(before + 1);
    // The old batch's log names the token that asked for the retry, as the new batch's does.
    const audit = await readFile(path.join(h.ctx.dir, 'api-output', oldId, 'audit', 'audit.jsonl'), 'utf8');
    const retries = audit
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((e) => e.action === 'retry-failed');
    expect(retries).toEqual([
      expect.objectContaining({ user: 'token:app', via: 'durabatch-api', result: both[0]!.body.batchId }),
    ]);
    const missing = await api.call('POST', '/v1/batches/no-such-batch/retry-failed', { token });
    expect(missing.status).toBe(404);
  }, 60_000);

  it('names an uploaded file by its path in the upload, never by the service’s disk', async () => {
    const batchId = `bad-meta-${Date.now()}`;
    const res = await api.call('POST', '/v1/batches', {
      token,
      body: form({ preset: 'intake', batchId }, [['a.pdf', '%PDF-1.4\n']], ['metadata.json', '{"a.pdf": ']),
    });
    expect(res.status, res.text).toBe(400);
    expect(res.text).toContain('metadata.json');
    expect(res.text).not.toContain(uploads());
    expect(res.text).not.toContain(h.ctx.dir);
    expect(await exists(batchId)).toBe(false);
  });

  it('plans an upload without naming the service’s disks', async () => {
    const res = await api.call('POST', '/v1/batches/plan', {
      token,
      body: form(
        { preset: 'intake' },
        [['inbox/a.pdf', '%PDF-1.4\n']],
        ['metadata.csv', 'file,doc\ninbox/a.pdf,A\nmissing.pdf,M\n'],
      ),
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ total: 1, valid: 1, source: 'files' });
    expect(res.body.warnings).toEqual(['metadata metadata.csv: line 3: no file "missing.pdf" in files']);
    expect((res.body.staged as { dir: string }).dir).toMatch(/^<home>\/staged\/[0-9a-f]+$/);
    expect(res.text).not.toContain(uploads());
    expect(res.text).not.toContain(h.ctx.dir);
  });
});

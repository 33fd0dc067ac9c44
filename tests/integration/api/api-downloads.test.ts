// A batch's report and files through the service, on the shared dev server: the CSVs are the files
// on disk byte for byte, the ZIP is valid and holds what `report --zip` holds, a running batch's
// files are 409, a CSV batch has no workbook (404), and an unknown batch is 404 on every route.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveEntries } from '../../../src/output-dir/archive';
import { batchEnd, controlRows, liveProgress, waitFor } from '../../helpers/engine';
import { engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';

/** Every entry of a ZIP held in memory, name → bytes, in archive order. */
function unzip(bytes: Buffer): Promise<[string, Buffer][]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const out: [string, Buffer][] = [];
      zip.on('entry', (e: yauzl.Entry) => {
        zip.openReadStream(e, (streamErr, stream) => {
          if (streamErr) return reject(streamErr);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            out.push([e.fileName, Buffer.concat(chunks)]);
            zip.readEntry();
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

describe('service: reports and downloads', () => {
  let h: EngineHarness;
  let api: ApiService;
  let reader: string;
  beforeAll(async () => {
    h = await engineHarness('api-downloads');
    api = await startApiService(h.ctx, {}, { reader: ['read'], operator: ['operate'] });
    reader = api.tokens.reader!;
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  const get = (url: string) => fetch(api.url + url, { headers: { authorization: `Bearer ${reader}` } });

  it('streams results.csv and failed.csv as on disk, the report with links, and a valid ZIP', async () => {
    const b = await h.start(
      'files',
      controlRows(6, (i) => ({ status: i === 1 || i === 4 ? 400 : 0 })),
    );
    expect(await batchEnd(b.handle)).toMatchObject({
      kind: 'returned',
      progress: { status: 'partial_failure', succeeded: 4, failed: 2 },
    });
    const results = path.join(b.outputDir, 'results');

    for (const file of ['results.csv', 'failed.csv']) {
      const res = await get(`/v1/batches/${b.batchId}/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${b.batchId}-${file}"`);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.equals(await readFile(path.join(results, file))), file).toBe(true);
    }
    const failedRows = (await readFile(path.join(results, 'failed.csv'), 'utf8')).trim().split('\n');
    expect(failedRows.length).toBe(3); // the header and the two failed rows

    const report = await api.call('GET', `/v1/batches/${b.batchId}/report`, { token: reader });
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({
      batchId: b.batchId,
      status: 'partial_failure',
      total: 6,
      succeeded: 4,
      failed: 2,
      files: {
        resultsCsv: `/v1/batches/${b.batchId}/results.csv`,
        failedCsv: `/v1/batches/${b.batchId}/failed.csv`,
        archive: `/v1/batches/${b.batchId}/archive.zip`,
      },
    });
    expect(report.body.files).not.toHaveProperty('resultsXlsx');

    const zip = await get(`/v1/batches/${b.batchId}/archive.zip`);
    expect(zip.status).toBe(200);
    expect(zip.headers.get('content-type')).toBe('application/zip');
    expect(zip.headers.get('content-disposition')).toBe(`attachment; filename="${b.batchId}-archive.zip"`);
    const entries = await unzip(Buffer.from(await zip.arrayBuffer()));
    expect(entries.map(([name]) => name)).toEqual([
      'results/failed.csv',
      'results/items.jsonl',
      'results/results.csv',
      'results/summary.json',
      'results/summary.txt',
      'audit/audit.jsonl',
    ]);
    expect(entries.map(([name]) => name)).toEqual((await archiveEntries(b.outputDir)).map((e) => e.name));
    for (const [name, bytes] of entries) {
      expect(bytes.equals(await readFile(path.join(b.outputDir, name))), name).toBe(true);
    }

    const xlsx = await api.call('GET', `/v1/batches/${b.batchId}/results.xlsx`, { token: reader });
    expect(xlsx.status).toBe(404);
    expect(xlsx.body.detail).toEqual(expect.stringContaining('XLSX'));
    expect(xlsx.body.fix).toEqual(expect.stringContaining('results.csv'));
  });

  it('answers 409 with a fix while the batch runs, and 404 for an unknown batch', async () => {
    const b = await h.start(
      'running',
      controlRows(3, () => ({ delayMs: 20_000 })),
      { concurrency: 1 },
    );
    await waitFor('an item running', async () => (await liveProgress(b.handle)).running === 1);
    for (const file of ['report', 'results.csv', 'failed.csv', 'results.xlsx', 'archive.zip']) {
      const res = await api.call('GET', `/v1/batches/${b.batchId}/${file}`, { token: reader });
      expect(res.status, file).toBe(409);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.fix, file).toEqual(expect.stringContaining('wait for the batch to end'));
      const missing = await api.call('GET', `/v1/batches/no-such-batch/${file}`, { token: reader });
      expect(missing.status, file).toBe(404);
      expect(missing.body.detail).toEqual(expect.stringContaining('no-such-batch'));
      const anonymous = await api.call('GET', `/v1/batches/${b.batchId}/${file}`);
      expect(anonymous.status, file).toBe(401);
    }
    await api.call('POST', `/v1/batches/${b.batchId}/cancel`, { token: api.tokens.operator });
    expect((await batchEnd(b.handle)).kind).toBe('cancelled');
    const after = await api.call('GET', `/v1/batches/${b.batchId}/report`, { token: reader });
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ status: 'cancelled', total: 3 });
  });
});

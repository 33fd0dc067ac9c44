// `npm run example:api`: the document-ingestion job of `npm run example:documents`, done the way a
// web back-end does it: through the batch service. It starts `durabatch serve --worker` with one
// preset (the local intake service, multipart) and a bearer token, uploads inbox/ and metadata.csv
// in one multipart POST, follows the batch's events stream to its end, asks for the status and
// the failed documents, and downloads the report, failed.csv and the archive: each request is
// printed as it runs. The truncated scan fails; the example checks that exactly that one did, that
// the nine others were stored once each, byte for byte, that the stream reported every document's
// end exactly once with the report's final counts, and that a retried POST (same Idempotency-Key)
// answered the same batch.
import { createHash, randomUUID } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { filesUnder, finish, main, rel, ROOT, useTemporalServer, workDir } from '../lib/example';
import { startIntakeTarget } from '../documents/intake-target';
import { followEvents, startService, type Service } from './service';

const documents = path.join(ROOT, 'examples', 'documents');
const inbox = path.join(documents, 'inbox');
/** The truncated scan: the one document the intake service must refuse. */
const CORRUPT = { key: 'D0005', file: 'scan-0005.pdf' };
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'skipped']);

interface Started {
  batchId: string;
  total: number;
  invalid: number;
  warnings: string[];
  links: { self: string; items: string; events: string; report: string; webUi: string | null };
}
interface Status {
  batchId: string;
  status: string;
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  cancelled: number;
  outputDir: string;
}
interface Item {
  key: string;
  state: string;
  attempts: number;
  error?: string;
  errorType?: string;
}
interface Report extends Status {
  files: { resultsCsv: string; failedCsv: string; resultsXlsx?: string; archive: string };
}

main('api', async () => {
  await useTemporalServer();
  const work = workDir('api');
  await mkdir(work, { recursive: true });
  const target = await startIntakeTarget();
  process.stderr.write(`local document intake service on ${target.url}, 10% of requests answered 503\n`);

  // The service's configuration: the one processor its clients may pick. They never send a URL.
  const config = path.join(work, 'service.json');
  await writeFile(
    config,
    JSON.stringify(
      {
        api: {
          presets: {
            'ingest-documents': {
              description: 'Store each document, with its metadata as form fields, in the intake service',
              processor: 'http',
              http: {
                url: `${target.url}/documents`,
                method: 'POST',
                bodyMode: 'multipart',
                fileField: 'document',
              },
            },
          },
        },
      },
      null,
      2,
    ),
  );
  let service: Service | undefined;
  try {
    service = await startService(config, 'ingest-app', ['read', 'operate', 'submit']);
    const api = service;

    // One multipart POST: every file of inbox/ under its relative path, the metadata file, the settings.
    const files = (await filesUnder(inbox))
      .map((f) => path.relative(inbox, f).split(path.sep).join('/'))
      .sort();
    const upload = async () => {
      const form = new FormData();
      form.append(
        'settings',
        JSON.stringify({
          preset: 'ingest-documents',
          settings: { idColumn: 'doc_id' },
          label: 'example-api',
        }),
      );
      form.append('metadata', await openAsBlob(path.join(documents, 'metadata.csv')), 'metadata.csv');
      for (const name of files) form.append('files', await openAsBlob(path.join(inbox, name)), name);
      return form;
    };
    const idempotencyKey = `example-api-${randomUUID()}`;
    const what = `multipart: ${files.length} files, metadata.csv, preset ingest-documents`;
    const started = await api.call<Started>('POST', '/v1/batches', {
      body: await upload(),
      headers: { 'idempotency-key': idempotencyKey },
      what,
      summary: (b) => `batch ${b.batchId}: ${b.total} documents, ${b.invalid} invalid${warned(b.warnings)}`,
    });
    if (started.status !== 202)
      throw new Error(`POST /v1/batches answered ${started.status}: ${started.text}`);
    const batchId = started.body.batchId;
    // A client that lost the answer sends the same request again: the same batch, not a second one.
    const again = await api.call<Started>('POST', '/v1/batches', {
      body: await upload(),
      headers: { 'idempotency-key': idempotencyKey },
      what: `${what}, the same Idempotency-Key`,
      summary: (b) => `batch ${b.batchId}${b.batchId === batchId ? ' (the same one)' : ' (A SECOND BATCH)'}`,
    });

    // Live progress: every document's transitions, counts while anything changes, then the end.
    const events = await followEvents(api, started.body.links.events);

    const status = await api.call<Status>('GET', started.body.links.self, {
      summary: (s) => `${s.status}: ${s.succeeded} succeeded, ${s.failed} failed of ${s.total}`,
    });
    const failedItems = await api.call<{ items: Item[] }>(
      'GET',
      `${started.body.links.items}?status=failed`,
      {
        summary: (b) => `${b.items.length} failed document(s)`,
      },
    );
    for (const item of failedItems.body.items)
      process.stderr.write(
        `      ${item.key} after ${item.attempts} attempt(s): ${item.errorType ?? ''}: ${item.error ?? ''}\n`,
      );
    const report = await api.call<Report>('GET', started.body.links.report, {
      summary: (r) => `${r.status}, files: ${Object.keys(r.files).join(', ')}`,
    });
    const downloads = path.join(work, 'downloads');
    await mkdir(downloads, { recursive: true });
    const failedCsv = await api.download(report.body.files.failedCsv, path.join(downloads, 'failed.csv'));
    const archive = await api.download(report.body.files.archive, path.join(downloads, `${batchId}.zip`));
    process.stderr.write(`downloads in ${rel(downloads)}\n`);

    // What the intake service stored, checked against the files themselves.
    const stored = target.stored();
    const metadata = (await readFile(path.join(documents, 'metadata.csv'), 'utf8'))
      .trim()
      .split('\n')
      .slice(1);
    let intact = 0;
    for (const doc of stored) {
      const file = metadata.find((line) => line.split(',')[1] === doc.fields.doc_id)?.split(',')[0];
      if (!file || doc.effects !== 1) continue;
      const bytes = await readFile(path.join(inbox, file));
      if (createHash('sha256').update(bytes).digest('hex') === doc.sha256) intact += 1;
    }
    const ends = events.items.filter((e) => TERMINAL.has(e.state));
    const endedKeys = new Set(ends.map((e) => e.key));
    const final = events.end;
    const failures = failedItems.body.items;
    const failedRows = failedCsv.toString('utf8').trim().split('\n').length - 1;
    // Each check by name, so a failing run says which one failed.
    const checks: Record<string, boolean> = {
      'the retried POST answered the same batch': again.body.batchId === batchId,
      '10 documents': started.body.total === 10 && status.body.total === 10,
      'status partial_failure, 9 succeeded, 1 failed':
        status.body.status === 'partial_failure' && status.body.succeeded === 9 && status.body.failed === 1,
      'the failed document is the scan':
        failures.length === 1 &&
        failures[0]!.key === CORRUPT.key &&
        failures[0]!.errorType === 'PermanentTargetError',
      'every document ended once in the events': ends.length === 10 && endedKeys.size === 10,
      'no item transition repeated': events.duplicateIds === 0,
      'the end event has the report’s counts':
        final !== undefined &&
        final.succeeded === report.body.succeeded &&
        final.failed === report.body.failed &&
        final.total === report.body.total,
      'failed.csv has the scan': failedRows === 1 && failedCsv.includes(CORRUPT.file),
      'the archive is a ZIP': archive.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04])),
      'the intake service stored the nine others, intact, once':
        stored.length === 9 && intact === 9 && !stored.some((d) => d.fileName === CORRUPT.file),
    };
    const failedChecks = Object.entries(checks)
      .filter(([, passed]) => !passed)
      .map(([name]) => name);
    const ok = failedChecks.length === 0;
    if (!ok) process.stderr.write(`\nchecks that failed: ${failedChecks.join('; ')}\n`);
    await api.stop();
    await target.close();
    await finish(
      'api',
      ok,
      `batch ${batchId}: ${status.body.total} documents through the service, ${status.body.succeeded} stored ` +
        `(${intact} intact, once each), ${status.body.failed} failed (${failures
          .map((f) => `${f.key} ${f.errorType ?? ''} after ${f.attempts} attempt(s)`)
          .join(', ')}); events: ${ends.length} documents ended, ${endedKeys.size} distinct, ` +
        `${events.counts} counts, end ${final ? `${final.succeeded}/${final.failed}` : 'missing'} = report ` +
        `${report.body.succeeded}/${report.body.failed}; the retried POST answered ` +
        `${again.body.batchId === batchId ? 'the same batch' : `another batch ${again.body.batchId}`}; ` +
        `failed.csv ${failedRows} row(s), archive ${archive.length} bytes`,
    );
  } finally {
    await service?.stop();
    await target.close().catch(() => undefined);
  }
});

const warned = (warnings: string[] | undefined) =>
  warnings && warnings.length > 0 ? `; warnings: ${warnings.join('; ')}` : '';

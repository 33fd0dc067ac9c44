// `npm run example:documents`: an admin ingesting a folder of documents with a metadata file. Each
// file of inbox/ is uploaded as multipart/form-data with its row of metadata.csv to a local intake
// service (intake-target.ts); one scan is truncated and is refused. The batch ends partial_failure,
// and `durabatch status --json` names the failed document; the example checks that exactly that
// one failed and that the nine others were stored once each, byte for byte.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BatchProgress, FailureRecord } from '../../workflows/types';
import { durabatchJson, finish, main, rel, ROOT, useTemporalServer } from '../lib/example';
import { startIntakeTarget } from './intake-target';

const here = path.join(ROOT, 'examples', 'documents');
/** The truncated scan: the one document the intake service must refuse. */
const CORRUPT = { key: 'D0005', file: 'scan-0005.pdf' };

main('documents', async () => {
  await useTemporalServer();
  const target = await startIntakeTarget();
  process.stderr.write(`local document intake service on ${target.url}, 10% of requests answered 503\n`);
  const inbox = path.join(here, 'inbox');
  const run = await durabatchJson<BatchProgress>([
    'run',
    rel(inbox),
    '--metadata',
    rel(path.join(here, 'metadata.csv')),
    '--id-column',
    'doc_id',
    '--url',
    `${target.url}/documents`,
    '--body-mode',
    'multipart',
    '--file-field',
    'document',
    '--new',
    '--json',
    ...process.argv.slice(2),
  ]).finally(() => target.close());

  // What an operator (or a script) asks afterwards: which documents failed, and why.
  const status = await durabatchJson<BatchProgress & { recentFailures?: FailureRecord[] }>([
    'status',
    run.batchId,
    '--json',
  ]);
  const failures = status.recentFailures ?? [];
  process.stderr.write(`\nfailed documents (status --json .recentFailures):\n`);
  for (const f of failures)
    process.stderr.write(`  ${f.key} after ${f.attempts} attempt(s): ${f.errorType}: ${f.errorMessage}\n`);
  process.stderr.write(
    `their rows and errors: ${rel(path.join(status.outputDir, 'results', 'failed.csv'))}; after a fix, ` +
      `\`durabatch retry-failed ${run.batchId}\` sends exactly those again\n`,
  );

  // A 503 on the scan's first attempt is retried, so it may take more than one: as many as it sent.
  const scanRequests = target.requestsFor(CORRUPT.key);
  const stored = target.stored();
  const metadata = (await readFile(path.join(here, 'metadata.csv'), 'utf8')).trim().split('\n').slice(1);
  let intact = 0;
  for (const doc of stored) {
    const row = metadata.find((line) => line.split(',')[1] === doc.fields.doc_id);
    const file = row?.split(',')[0];
    if (!file || doc.effects !== 1) continue;
    const bytes = await readFile(path.join(inbox, file));
    if (createHash('sha256').update(bytes).digest('hex') === doc.sha256) intact += 1;
  }
  const ok =
    run.code === 1 &&
    status.status === 'partial_failure' &&
    status.total === 10 &&
    status.succeeded === 9 &&
    status.failed === 1 &&
    failures.length === 1 &&
    failures[0]!.key === CORRUPT.key &&
    failures[0]!.errorType === 'PermanentTargetError' &&
    failures[0]!.attempts === scanRequests &&
    stored.length === 9 &&
    intact === 9 &&
    !stored.some((d) => d.fileName === CORRUPT.file);
  const stats = target.stats();
  await finish(
    'documents',
    ok,
    `${status.total} documents: ${status.succeeded} stored (${intact} intact, once each), ${status.failed} failed ` +
      `(${failures.map((f) => `${f.key} ${f.errorType} after ${f.attempts} attempt(s)`).join(', ')}; ` +
      `the service received ${scanRequests} request(s) for ${CORRUPT.key}); the service answered ` +
      `${Object.entries(stats.byStatus)
        .map(([s, n]) => `${n}×${s}`)
        .join(', ')}`,
  );
});

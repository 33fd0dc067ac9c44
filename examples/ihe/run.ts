// `npm run example:ihe`: a QA engineer's two IHE transactions per patient. Starts a local IHE target
// (PIX Add + ITI-41, see ihe-target.ts), runs the pipeline of environments/<IHE_ENV>.json (default
// development) over patients.csv with the token in IHE_TOKEN, then checks what the target holds:
// each patient registered once, one document per patient naming the id the registration returned,
// and the token in none of the batch's output files.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { BatchProgress } from '../../workflows/types';
import { durabatchJson, filesUnder, finish, main, rel, ROOT } from '../lib/example';
import { startIheTarget } from './ihe-target';

const here = path.join(ROOT, 'examples', 'ihe');

main('ihe', async () => {
  const envName = process.env.IHE_ENV ?? 'development';
  const config = path.join(here, 'environments', `${envName}.json`);
  const settings = JSON.parse(await readFile(config, 'utf8').catch(() => 'null')) as {
    steps: { http: { url: string } }[];
  } | null;
  if (!settings)
    throw new Error(`no environment "${envName}": IHE_ENV names a file in ${rel(path.dirname(config))}/`);
  const endpoint = new URL(settings.steps[0]!.http.url);
  if (endpoint.hostname !== '127.0.0.1') {
    throw new Error(
      `${rel(config)} sends to ${endpoint.origin}, a real IHE domain: this example only runs the local one ` +
        `(IHE_ENV=development). Run it yourself with IHE_TOKEN set: durabatch run examples/ihe/patients.csv --config ${rel(config)}`,
    );
  }
  // The secret lives in the worker's environment only; a fresh one per run shows it leaks nowhere.
  process.env.IHE_TOKEN ??= `ihe-demo-${randomUUID()}`;
  const token = process.env.IHE_TOKEN;
  const target = await startIheTarget({ port: Number(endpoint.port), token });
  process.stderr.write(`local IHE target (PIX Add, ITI-41) on ${target.url}, 15% of requests answered 503\n`);

  const csv = path.join(here, 'patients.csv');
  const final = await durabatchJson<BatchProgress>([
    'run',
    rel(csv),
    '--config',
    rel(config),
    '--new',
    '--json',
    ...process.argv.slice(2),
  ]).finally(() => target.close());

  const patients = parse<{ patient_id: string }>(await readFile(csv), { columns: true });
  const registrations = target.registrations().filter((r) => r.effects > 0);
  const documents = target.documents().filter((d) => d.effects > 0);
  let registeredOnce = 0;
  let documented = 0;
  for (const { patient_id } of patients) {
    const regs = registrations.filter((r) => r.sourceId === patient_id);
    if (regs.length !== 1 || regs[0]!.effects !== 1) continue;
    registeredOnce += 1;
    const eid = regs[0]!.enterpriseId;
    const docs = documents.filter((d) => d.patientId.startsWith(`${eid}^`));
    if (docs.length === 1 && docs[0]!.effects === 1 && docs[0]!.document.includes(`extension="${eid}"`))
      documented += 1;
  }
  const files = await filesUnder(final.outputDir);
  let leaked = 0;
  for (const f of files) if ((await readFile(f, 'utf8')).includes(token)) leaked += 1;

  const stats = target.stats();
  const byStatus = Object.entries(stats.byStatus)
    .map(([s, n]) => `${n}×${s}`)
    .join(', ');
  const ok =
    final.code === 0 &&
    final.succeeded === patients.length &&
    registeredOnce === patients.length &&
    registrations.length === patients.length &&
    documented === patients.length &&
    documents.length === patients.length &&
    leaked === 0;
  await finish(
    'ihe',
    ok,
    `target received ${stats.requests} requests (${byStatus}); ${registeredOnce} of ${patients.length} ` +
      `patients registered once, ${documented} documents each naming its patient's registry id; ` +
      `IHE_TOKEN in ${leaked} of ${files.length} output files`,
  );
});

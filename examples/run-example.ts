// `npm start`: the example batch end to end. Starts the example target API (latency, occasional 503
// and 429 with Retry-After, Idempotency-Key honoured), runs `durabatch run` on examples/patients.csv
// with the embedded Temporal server, then checks what the target really received, and stops
// everything it started.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import { startTargetApi } from './target-api/server';

const root = fileURLToPath(new URL('..', import.meta.url));
const csv = fileURLToPath(new URL('./patients.csv', import.meta.url));
const rows = parse<Record<string, string>>(readFileSync(csv), { columns: true, bom: true }).length;

const target = await startTargetApi({ failureRate: 0.05, rateLimitRate: 0.03, retryAfterSeconds: 1 });
process.stderr.write(`example target API listening on ${target.url} (5% 503, 3% 429 with Retry-After)\n`);

const args = [
  'bin/durabatch.js',
  'run',
  csv,
  '--url',
  `${target.url}/patients`,
  '--id-column',
  'patient_id',
  '--concurrency',
  '20',
  '--max-attempts',
  '8',
  ...process.argv.slice(2),
];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
const forward = (sig: NodeJS.Signals) => child.kill(sig);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const code = await new Promise<number>((resolve) =>
  child.once('exit', (c, sig) => resolve(c ?? (sig ? 130 : 1))),
);

const stats = target.stats();
const effectsPerKey = target.received().filter((r) => r.effects > 0);
const duplicated = effectsPerKey.filter((r) => r.effects > 1).length;
process.stderr.write(
  `\ntarget received ${stats.requests} requests for ${stats.distinctKeys} patients ` +
    `(${Object.entries(stats.byStatus)
      .map(([s, n]) => `${n}×${s}`)
      .join(', ')}); ` +
    `${effectsPerKey.length} of ${rows} CSV rows registered, ${duplicated} registered twice\n`,
);
await target.close();
process.exit(code !== 0 ? code : effectsPerKey.length === rows && duplicated === 0 ? 0 : 1);

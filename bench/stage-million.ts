// Stages a generated N-row CSV (default 1,000,000) and prints one JSON object with the time and the
// peak resident memory, sampled every 100 ms. Staging must stay flat in memory (under 200 MB here).
//   npx tsx bench/stage-million.ts [--rows 1000000] [--schema]
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { stageSource } from '../src/source/stage';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, schema: { type: 'boolean', default: false } },
});
const rows = Number(values.rows);
const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-stage-bench-'));
try {
  const file = path.join(dir, 'million.csv');
  // The generator runs in its own process, so this one's resident memory is staging's alone.
  const gen = fileURLToPath(new URL('./gen-csv.ts', import.meta.url));
  const done = spawnSync(process.execPath, ['--import', 'tsx', gen, '--rows', String(rows), '--out', file], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (done.status !== 0) throw new Error(`gen-csv failed with status ${done.status}`);
  const baseRssMb = process.memoryUsage().rss / 2 ** 20;
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const started = performance.now();
  const staged = await stageSource(file, {
    home: dir,
    idColumn: 'id',
    schema: values.schema
      ? {
          required: ['id', 'email'],
          fields: { email: { type: 'email' }, amount: { type: 'number', min: 0 }, created: { type: 'date' } },
        }
      : undefined,
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const result = {
    rows: staged.total,
    seconds: Math.round(seconds * 100) / 100,
    peakRssMb: Math.round(peak / 2 ** 20),
    baseRssMb: Math.round(baseRssMb),
    sourceMb: Math.round((await stat(file)).size / 2 ** 20),
    stagedMb: Math.round((await stat(path.join(staged.dir, 'items.jsonl'))).size / 2 ** 20),
    schema: values.schema,
    invalid: staged.invalid,
    node: process.version,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await rm(dir, { recursive: true, force: true });
}

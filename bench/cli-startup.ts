// How long the CLI takes to answer, as a user at a terminal or a polling script sees it: wall time
// of the real `bin/durabatch.js` process from spawn to exit, against a running dev server.
//   npx tsx bench/cli-startup.ts [--runs 10] [--compare-tsx]
// --compare-tsx also times the TypeScript sources run through tsx (how the CLI ran before it was
// bundled). Prints a table and appends one JSON line per command to bench/results/.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startDevServer } from '../src/server/dev-server';
import { repoRoot } from './lib/engine';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '10' }, 'compare-tsx': { type: 'boolean', default: false } },
});
const runs = Number(args.runs);
const work = mkdtempSync(path.join(os.tmpdir(), 'durabatch-cli-bench-'));
const home = path.join(work, 'home');
const server = await startDevServer({
  home: path.join(repoRoot, '.durabatch'),
  dbFile: path.join(work, 't.db'),
});
const env = { ...process.env, CI: 'true', TEMPORAL_ADDRESS: server.address, DURABATCH_HOME: home };
const bin = path.join(repoRoot, 'bin', 'durabatch.js');
const launchers: Record<string, string[]> = { bundle: [bin] };
if (args['compare-tsx'])
  launchers.tsx = ['--import', import.meta.resolve('tsx'), path.join(repoRoot, 'src', 'cli', 'main.ts')];

function cli(launcher: string[], argv: string[]): { ms: number; code: number | null; out: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...launcher, ...argv], { env, cwd: work, encoding: 'utf8' });
  return { ms: performance.now() - t0, code: r.status, out: `${r.stdout}${r.stderr}` };
}

try {
  // A finished batch for status/list/report, and a running one (no worker polls its queue) to cancel.
  writeFileSync(path.join(work, 'items.csv'), 'id\n1\n2\n3\n');
  const done = cli([bin], ['run', 'items.csv', '--id-column', 'id', '--command', 'true']);
  const finished = /batch (\S+) completed/.exec(done.out)?.[1];
  if (!finished) throw new Error(`the setup batch did not complete:\n${done.out}`);
  const startOne = () =>
    execFileSync(
      process.execPath,
      [bin, 'start', 'items.csv', '--id-column', 'id', '--command', 'true', '--task-queue', 'nobody-polls'],
      {
        env,
        cwd: work,
        encoding: 'utf8',
      },
    ).trim();

  const commands: Record<string, () => string[]> = {
    '--help': () => ['--help'],
    'run --help': () => ['run', '--help'],
    status: () => ['status', finished],
    'status --json': () => ['status', finished, '--json'],
    list: () => ['list', '--limit', '20'],
    cancel: () => ['cancel', startOne()],
  };
  cli([bin], ['--help']); // the first start after a source change builds the bundle: not measured
  const rows: Record<string, unknown>[] = [];
  for (const [name, argv] of Object.entries(commands)) {
    for (const [launcher, launch] of Object.entries(launchers)) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const a = argv(); // outside the timing (cancel's batch is started here)
        const r = cli(launch, a);
        if (r.code !== 0) throw new Error(`durabatch ${a.join(' ')} exited ${r.code}:\n${r.out}`);
        times.push(r.ms);
      }
      times.sort((x, y) => x - y);
      const pick = (q: number) =>
        Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]!);
      rows.push({ command: name, launcher, runs, minMs: pick(0), medianMs: pick(0.5), maxMs: pick(1) });
    }
  }
  const commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], {
    encoding: 'utf8',
  }).trim();
  const stamp = { at: new Date().toISOString(), commit, node: process.version, cpus: os.cpus().length };
  mkdirSync(path.join(repoRoot, 'bench', 'results'), { recursive: true });
  const file = path.join(repoRoot, 'bench', 'results', `cli-startup-${stamp.at.slice(0, 10)}.jsonl`);
  for (const row of rows) appendFileSync(file, JSON.stringify({ ...stamp, ...row }) + '\n');
  console.log('| command | launcher | min ms | median ms | max ms |\n|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| \`${String(r.command)}\` | ${String(r.launcher)} | ${String(r.minMs)} | ${String(r.medianMs)} | ${String(r.maxMs)} |`,
    );
  console.log(`\n${rows.length} rows appended to ${path.relative(repoRoot, file)}`);
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}

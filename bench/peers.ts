// Peer benchmark (issue 13, item 6): the same HTTP items through durabatch's modes, a plain
// in-process loop and BullMQ, interleaved round by round in one run, on the same target.
//
//   npx tsx bench/peers.ts [--items 2000] [--concurrency 100] [--rounds 3] [--latency-ms 0]
//                          [--modes loop,bullmq,per-item,page,page-local,runner(,per-item-local)]
//                          [--cli each|none|only] [--baseline REV|DIR] [--engine REV|DIR] [--page-size 100]
//   npx tsx bench/peers.ts --scenario latency      # = --latency-ms 200 --concurrency 50
//
// Every contender sends the same request per item (durabatch's own runHttp: POST of the row as
// JSON with an Idempotency-Key, `connections` = concurrency) to examples/target-api running in a
// process of its own (zero latency, no faults by default), with the same item count and the same
// concurrency limit. durabatch contenders each get a fresh embedded dev server (SQLite with
// durabatch's pragmas, in a temp dir) and one in-process worker; BullMQ gets a fresh redis-server
// (AOF, fsync every second) and one in-process Worker with one job per item.
//
// Measured per contender and round: items/s (start request to last item done), CPU ms per item of
// the server (Temporal dev server or redis-server, from /proc/<pid>/stat) and of this process (the
// worker, the client and the bench; process.cpuUsage), and for durabatch the history events per
// item (historyLength of every workflow execution on the server, closed runs included). Prints one
// JSON object per measurement, then a table; everything also goes to bench/results/peers-<date>.jsonl.
//
// --cli each (the default) adds, for every durabatch mode in --modes, the contender `<mode>+cli`:
// the same batch run end to end by `durabatch run` as a user starts it (node bin/durabatch.js of the
// same checkout, the mode's settings as its flags, its in-process worker, progress, result pages and
// report, CI=true, its own task queue) against a fresh dev server the bench starts. Its items/s are
// from the spawn to the exit; its worker CPU is the CLI process's (worker included, and any children
// it waited for). Its record also splits the command into `cli` phases (start-up to the batch
// started, following it to the summary, the exit), and the report gives each `+cli` row its ratio to
// its engine-only mode. --cli none leaves them out; --cli only runs them in place of the engine-only
// modes. One small batch through the CLI warms it up (its build, the workflow bundle) before round 1.
//
// --baseline REV|DIR adds, for every durabatch mode in --modes, the contender `<mode>@base`: that
// mode from another revision (extracted with git archive) or directory, interleaved with the rest
// round by round, to measure before and after in the same run. The report then gives each mode's
// ratio to its own `<mode>@base` (items/s and CPU ms per item); the other ratios stay "× today",
// i.e. to `per-item@base` when it ran (--baseline without per-item in --modes still adds it).
// --engine REV|DIR runs the other durabatch contenders from that revision instead of the working
// tree (a long run then does not pick up edits in progress). Issue 13's targets are checked at the end.
//
// The contenders live in bench/lib: peer-contenders.ts (loop, BullMQ), peer-durabatch.ts (durabatch's
// modes) and peer-report.ts (the measurements, the table and the targets).
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkout as checkoutEngine, commitOf } from './lib/engine';
import { runBullmq, runLoop, type Cleanups, type Turn } from './lib/peer-contenders';
import { BASE_SUFFIX, CLI_SUFFIX, durabatchContender, durabatchModes } from './lib/peer-durabatch';
import { report, toMeasurement, type Measurement, type RunSettings } from './lib/peer-report';
import { startTargetProcess } from './lib/target';

const { values } = parseArgs({
  options: {
    items: { type: 'string' },
    concurrency: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    'latency-ms': { type: 'string' },
    scenario: { type: 'string', default: 'zero' },
    modes: { type: 'string', default: 'loop,bullmq,per-item,page,page-local,runner' },
    cli: { type: 'string', default: 'each' },
    baseline: { type: 'string' },
    engine: { type: 'string' },
    'page-size': { type: 'string', default: '100' },
    out: { type: 'string' },
  },
});
if (values.scenario !== 'zero' && values.scenario !== 'latency') {
  throw new Error(`--scenario must be zero or latency, not ${values.scenario}`);
}
const latencyScenario = values.scenario === 'latency';
const items = Number(values.items ?? 2000);
const concurrency = Number(values.concurrency ?? (latencyScenario ? 50 : 100));
const latencyMs = Number(values['latency-ms'] ?? (latencyScenario ? 200 : 0));
const rounds = Number(values.rounds);
const itemsPerPage = Number(values['page-size']);
if (!['each', 'none', 'only'].includes(values.cli)) throw new Error(`--cli must be each, none or only`);
const isDurabatch = (m: string): boolean => m !== 'loop' && m !== 'bullmq';
// Every durabatch mode asked for, also end to end through `durabatch run` (or only that way).
const modes = values.modes
  .split(',')
  .map((m) => m.trim())
  .flatMap((m) => {
    if (!isDurabatch(m) || m.includes(CLI_SUFFIX) || m.endsWith(BASE_SUFFIX) || values.cli === 'none')
      return [m];
    return values.cli === 'only' ? [m + CLI_SUFFIX] : [m, m + CLI_SUFFIX];
  })
  .filter((m, k, all) => all.indexOf(m) === k);
if (values.baseline) {
  // Every durabatch mode asked for, from the baseline too; per-item@base always, as "today".
  const bases = modes.filter((m) => isDurabatch(m) && !m.endsWith(BASE_SUFFIX));
  if (!bases.includes('per-item')) bases.push('per-item');
  for (const m of bases) if (!modes.includes(m + BASE_SUFFIX)) modes.push(m + BASE_SUFFIX);
}
const repo = path.resolve(import.meta.dirname, '..');
/** What to stop if the run is interrupted (Ctrl-C, SIGTERM): servers, the target, temp dirs. */
const cleanups: Cleanups = new Set();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping the servers this run started`);
    void Promise.allSettled([...cleanups].map((f) => f())).finally(() => process.exit(130));
  });
}
const snapshots: string[] = [];
/**
 * A checkout to load an engine from: a directory as it is, or a git revision of this repository
 * extracted with `git archive` into a temp dir (node_modules linked to this one's, removed at the end).
 */
function checkout(spec: string): string {
  const dir = checkoutEngine(spec);
  if (dir !== path.resolve(spec)) {
    snapshots.push(dir);
    cleanups.add(() => rm(dir, { recursive: true, force: true }));
  }
  return dir;
}
// The checkout whose engine the durabatch contenders run: default this working tree; a revision
// (e.g. HEAD) keeps a long run away from edits in progress.
const engineRoot = values.engine ? checkout(values.engine) : repo;
const home = path.join(repo, '.durabatch');
const date = new Date().toISOString().slice(0, 10);
const outFile = values.out ?? path.join(repo, 'bench', 'results', `peers-${date}.jsonl`);
mkdirSync(path.dirname(outFile), { recursive: true });
const runId = new Date().toISOString();
const run: RunSettings = { runId, items, concurrency, latencyMs, rounds };

const baselineRoot = values.baseline ? checkout(values.baseline) : undefined;
const DURABATCH = durabatchModes(engineRoot, itemsPerPage, baselineRoot);
for (const m of modes) {
  if (isDurabatch(m) && !(m in DURABATCH)) throw new Error(`unknown mode ${m}`);
}
const durabatch = durabatchContender({ modes: DURABATCH, home, cleanups });
let redisVersion: string | undefined;

function emit(record: object): void {
  const line = JSON.stringify(record);
  console.log(line);
  appendFileSync(outFile, line + '\n');
}

// ---- the run ----------------------------------------------------------------------------------

const skipped = new Map<string, string>();
for (const m of modes) {
  if (!(m in DURABATCH)) continue;
  const why = await durabatch.supported(m);
  if (why) skipped.set(m, why);
}
const active = modes.filter((m) => !skipped.has(m));
for (const [m, why] of skipped) console.error(`skipping ${m}: this checkout's Config refuses it (${why})`);

const work = await mkdtemp(path.join(os.tmpdir(), 'durabatch-peers-run-'));
const csv = path.join(work, 'items.csv');
await writeFile(csv, 'id\n' + Array.from({ length: items }, (_, i) => `item-${i}`).join('\n') + '\n');
const target = await startTargetProcess(latencyMs);
cleanups.add(target.stop);
cleanups.add(() => rm(work, { recursive: true, force: true }));
const bullmqVersion = (
  JSON.parse(readFileSync(path.join(repo, 'node_modules/bullmq/package.json'), 'utf8')) as { version: string }
).version;
const meta = {
  benchmark: 'peers-run',
  run: runId,
  items,
  concurrency,
  latencyMs,
  rounds,
  contenders: active,
  skipped: Object.fromEntries(skipped),
  commit: commitOf(engineRoot),
  engine: engineRoot,
  baseline: baselineRoot ? commitOf(baselineRoot) : undefined,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memGb: Math.round(os.totalmem() / 2 ** 30),
  kernel: os.release(),
  node: process.version,
  bullmq: bullmqVersion,
};
emit(meta);

const all: Measurement[] = [];
try {
  // Warm up this process's HTTP path (JIT, connection pool) before the first timed round.
  await runLoop({ target, round: 0, dir: work, items: Math.min(items, 500), concurrency });
  // The CLI of each checkout once, on a small batch: its build and the workflow bundle are then
  // ready, as for a user's second `run`. Not measured.
  const warmUpItems = Math.min(items, 50);
  const warmUpCsv = path.join(work, 'warm-up.csv');
  await writeFile(
    warmUpCsv,
    'id\n' + Array.from({ length: warmUpItems }, (_, i) => `warm-${i}`).join('\n') + '\n',
  );
  const cliRoots = new Map<string, string>();
  for (const m of active) if (DURABATCH[m]?.via === 'cli') cliRoots.set(DURABATCH[m].root, m);
  for (const m of cliRoots.values()) {
    await durabatch.run(m, { target, round: 0, dir: work, items: warmUpItems, concurrency }, warmUpCsv);
  }
  for (let round = 1; round <= rounds; round++) {
    // Rotate the order every round so no contender always runs first (or right after a heavy one).
    const order = active.map((_, k) => active[(k + round - 1) % active.length]!);
    for (const contender of order) {
      const turn: Turn = { target, round, dir: work, items, concurrency };
      const before = await target.stats();
      const sample =
        contender === 'loop'
          ? await runLoop(turn)
          : contender === 'bullmq'
            ? await runBullmq(turn, cleanups, (v) => (redisVersion = v))
            : await durabatch.run(contender, turn, csv);
      const after = await target.stats();
      const m = toMeasurement(run, contender, round, sample, before, after);
      all.push(m);
      emit(m);
    }
  }
} finally {
  await target.stop();
  await rm(work, { recursive: true, force: true });
  for (const dir of snapshots) await rm(dir, { recursive: true, force: true });
}

const versions = {
  temporal: durabatch.temporalVersion(),
  redis: redisVersion,
  bullmq: bullmqVersion,
  node: process.version,
};
report({ run, all, active, skipped, versions, emit });
process.exit(0);

// Upload memory benchmark: how much RSS the real http processor (runHttp) adds while it uploads one
// large file, per body mode. Each upload runs in its own child process so that every mode starts
// from the same baseline; a loopback server in this process drains the uploads. Prints one JSON line.
//   npx tsx bench/upload-rss.ts [--size-mb 300] [--runs 3] [--modes raw,multipart] [--warm]
// --warm: each child first uploads a 1 MB file, so its baseline already holds what the first request
// loads (fetch, the connection pool), as in a worker that has served items before.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { runHttp } from '../activities/processors/http';
import type { HttpProcessorSpec } from '../workflows/types';

type Mode = 'raw' | 'multipart';
const MB = 1024 * 1024;
const SAMPLE_MS = 50;

/** What a child measured, in bytes of RSS. */
interface ChildResult {
  mode: Mode;
  before: number;
  peak: number;
  after: number;
  seconds: number;
  receivedBytes: number;
}

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    mode: { type: 'string', default: 'raw' },
    url: { type: 'string', default: '' },
    file: { type: 'string', default: '' },
    'size-mb': { type: 'string', default: '300' },
    runs: { type: 'string', default: '3' },
    modes: { type: 'string', default: 'raw,multipart' },
    warm: { type: 'boolean', default: false },
    'warm-file': { type: 'string', default: '' },
  },
});

const mb = (bytes: number): number => Math.round((bytes / MB) * 10) / 10;

/** In the child: one upload through runHttp, sampling this process's RSS every 50 ms. */
async function child(): Promise<ChildResult> {
  const mode = values.mode as Mode;
  const spec: HttpProcessorSpec = {
    type: 'http',
    url: values.url,
    method: 'POST',
    headers: {},
    bodyMode: mode,
    timeoutMs: 600_000,
  };
  // Not annotated: a plain object stays assignable to ProcessorContext as it gains fields.
  const ctxFor = (file: string) => ({
    batchId: 'bench',
    item: { index: 0, key: 'big.bin', line: 1, data: { path: file, file: 'big.bin', title: 'Big' } },
    idempotencyKey: 'bench:big.bin',
    attempt: 1,
    signal: new AbortController().signal,
    heartbeat: () => undefined,
    lastHeartbeatDetails: undefined,
    steps: {},
    outputDir: os.tmpdir(),
    stopGraceMs: 2_000,
    env: {},
    log: pino({ level: 'silent' }),
  });
  if (values['warm-file']) await runHttp(spec, ctxFor(values['warm-file']));
  await new Promise((r) => setTimeout(r, 500)); // let start-up allocations settle
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), SAMPLE_MS);
  const started = performance.now();
  const out = await runHttp(spec, ctxFor(values.file));
  const seconds = (performance.now() - started) / 1000;
  const after = process.memoryUsage().rss;
  clearInterval(sampler);
  peak = Math.max(peak, after);
  const receivedBytes = (out.body as { bytes?: number } | undefined)?.bytes ?? -1;
  return { mode, before, peak, after, seconds, receivedBytes };
}

/** Writes `sizeMb` MB of incompressible bytes without holding them in memory. */
async function writeBigFile(file: string, sizeMb: number): Promise<void> {
  const block = randomBytes(MB);
  const out = createWriteStream(file);
  for (let i = 0; i < sizeMb; i++) {
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

function runChild(mode: Mode, url: string, file: string, warmFile: string): Promise<ChildResult> {
  const self = fileURLToPath(import.meta.url);
  // fork keeps tsx's loader flags (process.execArgv), so the child runs this TypeScript file too.
  const proc = fork(
    self,
    ['--child', '--mode', mode, '--url', url, '--file', file, '--warm-file', warmFile],
    { stdio: 'inherit' },
  );
  return new Promise((resolve, reject) => {
    proc.once('message', (m) => resolve(m as ChildResult));
    proc.once('exit', (code) => reject(new Error(`the ${mode} upload child exited with code ${code}`)));
  });
}

async function main(): Promise<void> {
  const sizeMb = Number(values['size-mb']);
  const runs = Number(values.runs);
  const modes = values.modes.split(',') as Mode[];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-upload-rss-'));
  // Drains every upload and answers with the byte count, to check the whole body arrived.
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () =>
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`;
  try {
    const file = path.join(dir, 'big.bin');
    await writeBigFile(file, sizeMb);
    const warmFile = values.warm ? path.join(dir, 'warm.bin') : '';
    if (warmFile) await writeBigFile(warmFile, 1);
    const results: ({ mode: Mode; run: number; addedPeakMb: number } & Record<string, unknown>)[] = [];
    for (let run = 1; run <= runs; run++) {
      for (const mode of modes) {
        const r = await runChild(mode, url, file, warmFile);
        if (r.receivedBytes < sizeMb * MB) {
          throw new Error(`the ${mode} upload delivered ${r.receivedBytes} bytes of ${sizeMb * MB}`);
        }
        results.push({
          mode,
          run,
          beforeMb: mb(r.before),
          peakMb: mb(r.peak),
          afterMb: mb(r.after),
          addedPeakMb: mb(r.peak - r.before),
          addedAfterMb: mb(r.after - r.before),
          seconds: Math.round(r.seconds * 100) / 100,
        });
      }
    }
    const summary = Object.fromEntries(
      modes.map((mode) => {
        const mine = results.filter((r) => r.mode === mode);
        const added = mine.map((r) => r.addedPeakMb);
        return [mode, { minAddedPeakMb: Math.min(...added), maxAddedPeakMb: Math.max(...added) }];
      }),
    );
    const info = { node: process.version, cpus: os.cpus().length, sampleMs: SAMPLE_MS };
    console.log(
      JSON.stringify({
        bench: 'upload-rss',
        at: new Date().toISOString(),
        sizeMb,
        runs,
        warm: values.warm,
        ...info,
        summary,
        results,
      }),
    );
  } finally {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (values.child) {
  const result = await child();
  process.send!(result, () => process.exit(0));
} else {
  await main();
}

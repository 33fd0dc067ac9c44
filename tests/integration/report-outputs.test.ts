// What a batch leaves behind, on a real dev server: output files named after their source files
// (`{name}`, `{ext}`), and the summary files' latency per pipeline step and fastest/slowest items.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeKey } from '../../src/output-dir/layout';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { createTestContext, type TestContext } from '../helpers/context';
import { allSucceeded, finalProgress, readItems } from '../helpers/engine';
import { writeCsv } from '../helpers/files';

/** Every file under `dir`, relative and `/`-separated, sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

interface LatencyWithMax {
  avg: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

interface Summary {
  latencyMs: LatencyWithMax;
  stepLatencyMs: Record<string, LatencyWithMax>;
  fastest: { key: string; latencyMs: number };
  slowest: { key: string; latencyMs: number };
}

/** Nearest-rank percentile of exact values: what the histogram's bucket bound may exceed by ≤20%. */
function exactPercentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

describe('batch outputs through a real Temporal dev server', () => {
  let ctx: TestContext;
  let target: TargetApi;

  beforeAll(async () => {
    ctx = await createTestContext('outputs');
    target = await startTargetApi({ failureRate: 0, rateLimitRate: 0, latencyMs: [1, 3] });
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('names output files after their source files with {name} and {ext}, cleaned to one safe segment', async () => {
    const dir = path.join(ctx.dir, 'scans');
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    // source file → the name `{name}-copy.{ext}` must give it
    const sources: Record<string, string> = {
      'red.png': 'red-copy.png',
      'sub/photo.v2.JPG': 'photo.v2-copy.JPG',
      // `:` and `*` are refused by some file systems: cleaned to `_`.
      'report: Q1*.txt': 'report_ Q1_-copy.txt',
      'Müller résumé.pdf': 'Müller résumé-copy.pdf',
    };
    for (const rel of Object.keys(sources)) await writeFile(path.join(dir, rel), `content of ${rel}`);

    const batchId = `names-${Date.now()}`;
    const config = ctx.config({
      batchId,
      format: 'dir',
      processor: 'command',
      command: { argv: ['cp', '{path}', '{documents}/{name}-copy.{ext}'], timeoutMs: 30_000 },
    });
    const started = await ctx.batches.start(dir, config);
    expect(await finalProgress(started.handle)).toMatchObject(allSucceeded(4));

    const expected = Object.entries(sources).map(([rel, out]) => `${safeKey(rel)}/${out}`);
    expect(await listFiles(path.join(started.outputDir, 'documents'))).toEqual([...expected].sort());
    const records = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    for (const [rel, out] of Object.entries(sources)) {
      const produced = `documents/${safeKey(rel)}/${out}`;
      expect(records.get(rel)?.files).toEqual([produced]);
      expect(await readFile(path.join(started.outputDir, produced), 'utf8')).toBe(`content of ${rel}`);
    }
  });

  it('writes latency per pipeline step and the fastest and slowest items into summary.json and summary.txt', async () => {
    // The second step of `slow` waits 1.5 s and of `middle` 0.6 s at the target: they are the
    // slowest and the middle item whatever the scheduling noise, and `quick` the fastest.
    const rows = [
      { id: 'quick', delayMs: 0 },
      { id: 'middle', delayMs: 600 },
      { id: 'slow', delayMs: 1_500 },
    ];
    const batchId = `steps-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, rows);
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      steps: [
        { name: 'register', processor: 'http', http: { url: `${target.url}/api/register` } },
        { name: 'submit', processor: 'http', http: { url: `${target.url}/api/submit{?delayMs}` } },
      ],
    });
    const started = await ctx.batches.start(csv, config);
    expect(await finalProgress(started.handle)).toMatchObject(allSucceeded(3));

    const items = new Map((await readItems(started.outputDir)).map((i) => [i.key, i]));
    const stepLatencies = (step: string) =>
      rows.map((r) => items.get(r.id)!.steps!.find((s) => s.name === step)!.latencyMs);
    const results = path.join(started.outputDir, 'results');
    const summary = JSON.parse(await readFile(path.join(results, 'summary.json'), 'utf8')) as Summary;

    expect(Object.keys(summary.stepLatencyMs)).toEqual(['register', 'submit']);
    for (const step of ['register', 'submit']) {
      const exact = stepLatencies(step);
      const got = summary.stepLatencyMs[step]!;
      expect(got.max).toBe(Math.max(...exact.map(Math.round)));
      for (const [p, value] of [
        [50, got.p50],
        [95, got.p95],
      ] as const) {
        // A histogram bound: never below the true value, at most one bucket (20%) above it.
        expect(value).toBeGreaterThanOrEqual(exactPercentile(exact, p));
        expect(value).toBeLessThanOrEqual(Math.ceil(exactPercentile(exact, p) * 1.2) + 1);
      }
    }
    expect(summary.stepLatencyMs.submit!.max).toBeGreaterThanOrEqual(1_500);
    expect(summary.latencyMs.max).toBe(Math.round(items.get('slow')!.latencyMs));
    expect(summary.fastest).toEqual({ key: 'quick', latencyMs: Math.round(items.get('quick')!.latencyMs) });
    expect(summary.slowest).toEqual({ key: 'slow', latencyMs: Math.round(items.get('slow')!.latencyMs) });

    const text = (await readFile(path.join(results, 'summary.txt'), 'utf8')).split('\n');
    expect(text).toContain(`fastest      quick (${summary.fastest.latencyMs} ms)`);
    expect(text).toContain(`slowest      slow (${summary.slowest.latencyMs} ms)`);
    const byStep = text.indexOf('latency by step');
    expect(byStep).toBeGreaterThan(0);
    const line = (name: string) => {
      const l = summary.stepLatencyMs[name]!;
      return `  ${name.padEnd(8)}  p50 ${l.p50} ms, p95 ${l.p95} ms, max ${l.max} ms`;
    };
    expect(text.slice(byStep + 1, byStep + 3)).toEqual([line('register'), line('submit')]);
  });
});

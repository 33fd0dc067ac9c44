// The service killed with SIGKILL mid-batch: the batch goes on without it (it only reads), and a new
// `durabatch serve` process resumes the events stream from the last id the client saw, with no
// transition lost or repeated, ending with the report's counts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { controlRows, finishedOf, readSummary, waitFor } from '../helpers/engine';
import { controlUrl, engineHarness, type EngineHarness } from '../helpers/harness';
import { lastId, readEvents, type SseEvent } from '../helpers/sse';

const BIN = path.resolve('bin/durabatch.js');
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'skipped'];
type ItemData = { key: string; state: string; attempt?: number };

/** 60 items of 400 ms, four at a time: every 9th fails for good, every 8th fails once first. */
const ROWS = controlRows(60, (i) => ({
  delayMs: 400,
  ...(i % 9 === 4 ? { status: 400 } : i % 8 === 2 ? { failAttempts: 1 } : {}),
}));

interface Serve {
  proc: ChildProcess;
  url: string;
}

/**
 * `durabatch serve --port 0` on the shared dev server; resolves with the URL it prints. `readable`:
 * the folder of the test's batches (their output and staged source), one of its storage roots.
 */
async function startServe(home: string, readable: string): Promise<Serve> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    env: {
      ...process.env,
      DURABATCH_HOME: home,
      DURABATCH_ALLOW_PATHS: readable,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      CI: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start in 60 s: ${stderr}`)), 60_000);
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { proc, url };
}

describe('e2e: serve killed with SIGKILL mid-batch', () => {
  let h: EngineHarness;
  const served: Serve[] = [];
  beforeAll(async () => {
    h = await engineHarness('api-serve-kill');
  });
  afterAll(async () => {
    for (const s of served) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    await h?.close();
  });

  it('the batch goes on, and the stream resumes on a new process with nothing lost or repeated', async () => {
    const home = await mkdtemp(path.join(inject('tmpRoot'), 'serve-home-'));
    const first = await startServe(home, h.ctx.dir);
    served.push(first);
    const target = await h.target();
    const { batchId, csv } = await h.source('serve-kill', ROWS);
    const b = await h.ctx.batches.start(
      csv,
      h.ctx.config({
        batchId,
        idColumn: 'id',
        http: { url: controlUrl(target) },
        concurrency: 4,
        maxAttempts: 3,
        initialIntervalMs: 50,
        maxIntervalMs: 100,
      }),
      { resultsPageSize: 10 },
    );
    const events = (url: string, lastEventId?: string, stop?: (e: SseEvent[]) => boolean) =>
      readEvents(`${url}/v1/batches/${batchId}/events`, { lastEventId, stop });
    const terminalOf = (evs: SseEvent[]) =>
      evs.filter((e) => e.event === 'item' && TERMINAL.includes((e.data as ItemData).state));

    const before = await events(first.url, undefined, (evs) => terminalOf(evs).length >= 15);
    expect(before.status).toBe(200);
    first.proc.kill('SIGKILL');
    const doneAtKill = finishedOf(await h.ctx.batches.progress(batchId));
    expect(doneAtKill).toBeLessThan(60);
    // Without the service the batch goes on.
    await waitFor('the batch moves without the service', async () =>
      finishedOf(await h.ctx.batches.progress(batchId)) >= doneAtKill + 8 ? true : undefined,
    );

    const second = await startServe(home, h.ctx.dir);
    served.push(second);
    const after = await events(second.url, lastId(before.events));
    expect(after.ended).toBe(true);
    const all = [...before.events, ...after.events];
    const items = all.filter((e) => e.event === 'item').map((e) => e.data as ItemData);
    const ids = ROWS.map((r) => r.id).sort();
    expect(
      items
        .filter((e) => TERMINAL.includes(e.state))
        .map((e) => e.key)
        .sort(),
    ).toEqual(ids);
    expect(
      items
        .filter((e) => e.state === 'started')
        .map((e) => e.key)
        .sort(),
    ).toEqual(ids);
    expect(
      items
        .filter((e) => e.state === 'retrying')
        .map((e) => e.key)
        .sort(),
    ).toEqual(
      ROWS.filter((r) => r.failAttempts === 1)
        .map((r) => r.id)
        .sort(),
    );
    const summary = await readSummary(b.outputDir);
    const end = all.at(-1)!;
    expect(end.event).toBe('end');
    for (const f of ['succeeded', 'failed', 'skipped', 'cancelled', 'total'] as const)
      expect((end.data as Record<string, number>)[f]).toBe(summary[f]);
    expect(summary).toMatchObject({ total: 60, failed: 7, succeeded: 53 });
    second.proc.kill('SIGTERM');
  });
});

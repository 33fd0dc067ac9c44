// Progress reported by processors: a module calls ctx.progress(percent), a command prints
// `durabatch-progress: N` lines on stderr; at most two a second per item reach the item journal, and
// from it the `progress` events and the items view.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/engine';
import { engineHarness, type EngineHarness } from '../../helpers/harness';
import { startApiService, type ApiService } from '../../helpers/api-service';
import { readEvents, type SseEvent } from '../../helpers/sse';
import type { ConfigInput } from '../../../src/config/schema';

type Progress = { key: string; percent: number };
type Row = { key: string; state: string; progress?: number };

/** 10, then a burst 11..30 (one line: 30, half a second later), 60 (then waits for `go`), 90. */
const MODULE = (go: string) => `import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
export default async function work(item, ctx) {
  ctx.progress(10);
  for (let p = 11; p <= 30; p++) ctx.progress(p);
  await sleep(1200);
  ctx.progress(60);
  while (!existsSync(${JSON.stringify(go)})) await sleep(50);
  await sleep(600);
  ctx.progress(90);
  await sleep(100);
  return { ok: true };
}
`;

/** 40, then 80 % after 0.7 s; lines that are not progress (or out of range, or huge) are ignored. */
const COMMAND = `const say = (s) => process.stderr.write(s);
say('durabatch-progress: 40\\n');
say('progress 55\\ndurabatch-progress: 150\\n' + 'x'.repeat(100000) + 'durabatch-progress: 45\\n');
setTimeout(() => {
  say('durabatch-progress: 80%\\r\\n');
  setTimeout(() => process.stdout.write(JSON.stringify({ ok: true })), 200);
}, 700);
`;

describe('service: processors report progress', () => {
  let h: EngineHarness;
  let api: ApiService;
  beforeAll(async () => {
    h = await engineHarness('api-progress');
    api = await startApiService(h.ctx, {}, { reader: ['read'] });
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  async function start(name: string, overrides: ConfigInput) {
    const { batchId, csv } = await h.source(name, [{ id: 'P1', delayMs: 0, status: 0, failAttempts: 0 }]);
    return h.ctx.batches.start(csv, h.ctx.config({ batchId, idColumn: 'id', maxAttempts: 1, ...overrides }));
  }
  const progressOf = (events: SseEvent[]) =>
    events.filter((e) => e.event === 'progress').map((e) => (e.data as Progress).percent);
  const items = async (batchId: string) =>
    (await api.call<{ items: Row[] }>('GET', `/v1/batches/${batchId}/items`, { token: api.tokens.reader }))
      .body.items;

  it('a module’s ctx.progress: throttled, in the events and the items view', async () => {
    const go = path.join(h.ctx.dir, 'go');
    const mod = path.join(h.ctx.dir, 'progress-module.mjs');
    await writeFile(mod, MODULE(go));
    const b = await start('progress-module', {
      processor: 'module',
      module: { path: mod, timeoutMs: 60_000 },
    });
    const running = await waitFor(
      'P1 running at 60 %',
      async () => {
        const [row] = await items(b.batchId);
        return row?.state === 'running' && row.progress === 60 ? row : undefined;
      },
      30_000,
    );
    expect(running).toMatchObject({ key: 'P1', state: 'running', progress: 60 });
    await writeFile(go, '');
    const all = await readEvents(`${api.url}/v1/batches/${b.batchId}/events`, { token: api.tokens.reader });
    expect(all.ended).toBe(true);
    expect(progressOf(all.events)).toEqual([10, 30, 60, 90]);
    expect(
      all.events.filter((e) => e.event === 'progress').every((e) => (e.data as Progress).key === 'P1'),
    ).toBe(true);
    expect(await items(b.batchId)).toMatchObject([{ key: 'P1', state: 'succeeded', progress: 100 }]);
  });

  it('a command’s `durabatch-progress:` lines on stderr', async () => {
    const script = path.join(h.ctx.dir, 'progress-command.mjs');
    await writeFile(script, COMMAND);
    const b = await start('progress-command', {
      processor: 'command',
      command: { argv: [process.execPath, script], timeoutMs: 60_000 },
    });
    const all = await readEvents(`${api.url}/v1/batches/${b.batchId}/events`, { token: api.tokens.reader });
    expect(all.ended).toBe(true);
    expect(progressOf(all.events)).toEqual([40, 80]);
    expect(all.events.filter((e) => e.event === 'item').map((e) => (e.data as Row).state)).toEqual([
      'started',
      'succeeded',
    ]);
  });
});

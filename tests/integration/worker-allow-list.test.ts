// A worker runs only what its own configuration allows: batches started straight on the task queue
// (a client chooses the whole workflow input, as `temporal workflow start --type batchWorkflow`
// would) name a program, a module and an origin the worker does not list. Nothing runs: no marker
// file, no module imported, no request at the second origin; each item fails as ProcessorNotAllowed,
// naming what to allow. The listed program and origin run (so the refusals are the list's doing).
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepsFromConfig } from '../../src/client/steps';
import { ALLOW_NONE, allowListForBatch } from '../../src/worker/allow-settings';
import { createTestContext, type TestContext } from '../helpers/context';
import { finalProgress, readItems } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { startHeaderRecorder, type HeaderRecorder } from '../helpers/header-recorder';
import { startBatchDirect } from '../helpers/start-direct';
import { spawnWorkerProcess, waitForPollers, type WorkerProcess } from '../helpers/worker-process';
import type { ConfigInput } from '../../src/config/schema';

describe('worker allow-list', () => {
  let ctx: TestContext;
  let allowedTarget: HeaderRecorder;
  let otherTarget: HeaderRecorder;
  let seq = 0;

  beforeAll(async () => {
    ctx = await createTestContext('allow-list');
    [allowedTarget, otherTarget] = await Promise.all([startHeaderRecorder(), startHeaderRecorder()]);
    await ctx.startWorker({
      allow: { ...ALLOW_NONE, commands: ['true'], origins: [allowedTarget.url], paths: [ctx.dir] },
    });
  });
  afterAll(async () => {
    await ctx?.close();
    await allowedTarget?.close();
    await otherTarget?.close();
  });

  /** Starts a two-item batch directly on the task queue and waits for its end. */
  async function runDirect(name: string, overrides: ConfigInput) {
    const batchId = `allow-${name}-${Date.now()}-${++seq}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'a' }, { id: 'b' }]);
    const started = await startBatchDirect(
      ctx,
      csv,
      ctx.config({ batchId, idColumn: 'id', ...overrides }),
      {},
    );
    const progress = await finalProgress(started.handle);
    return { progress, items: await readItems(started.outputDir) };
  }

  it('refuses a command the worker does not list: no process runs', async () => {
    const marker = path.join(ctx.dir, 'command-ran');
    const { progress, items } = await runDirect('cmd', {
      processor: 'command',
      command: { argv: ['touch', marker] },
    });
    expect(existsSync(marker)).toBe(false);
    expect(progress).toMatchObject({ total: 2, succeeded: 0, failed: 2 });
    for (const item of items) {
      expect(item).toMatchObject({ status: 'failed', errorType: 'ProcessorNotAllowed', attempts: 1 });
      expect(item.errorMessage).toContain('program "touch"');
      expect(item.errorMessage).toContain('DURABATCH_ALLOW_COMMANDS');
    }
  });

  it('runs the command it lists', async () => {
    const { progress } = await runDirect('cmd-ok', { processor: 'command', command: { argv: ['true'] } });
    expect(progress).toMatchObject({ total: 2, succeeded: 2, failed: 0 });
  });

  it('refuses a module the worker does not list: the module is never imported', async () => {
    const marker = path.join(ctx.dir, 'module-imported');
    const file = path.join(ctx.dir, 'forged.mjs');
    await writeFile(
      file,
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\n` +
        'export default async function process() { return 1; }\n',
    );
    const { progress, items } = await runDirect('mod', { processor: 'module', module: { path: file } });
    expect(existsSync(marker)).toBe(false);
    expect(progress).toMatchObject({ total: 2, failed: 2 });
    expect(items.map((i) => i.errorType)).toEqual(['ProcessorNotAllowed', 'ProcessorNotAllowed']);
    expect(items[0]?.errorMessage).toContain(`module ${file}`);
    expect(items[0]?.errorMessage).toContain('DURABATCH_ALLOW_MODULES');
  });

  it('refuses an origin the worker does not list: no request reaches it; the listed one is called', async () => {
    const refused = await runDirect('http', { http: { url: `${otherTarget.url}/items/{id}` } });
    expect(otherTarget.requests).toHaveLength(0);
    expect(refused.progress).toMatchObject({ total: 2, failed: 2 });
    for (const item of refused.items) {
      expect(item.errorType).toBe('ProcessorNotAllowed');
      expect(item.errorMessage).toContain(`origin ${otherTarget.url}`);
      expect(item.errorMessage).toContain('DURABATCH_ALLOW_ORIGINS');
    }
    const ok = await runDirect('http-ok', { http: { url: `${allowedTarget.url}/items/{id}` } });
    expect(ok.progress).toMatchObject({ total: 2, succeeded: 2 });
    expect(allowedTarget.requests.map((r) => r.path).sort()).toEqual(['/items/a', '/items/b']);
  });
});

describe('durabatch worker: its allow-list is its own configuration', () => {
  let ctx: TestContext;
  let worker: WorkerProcess | undefined;
  let target: HeaderRecorder;

  beforeAll(async () => {
    ctx = await createTestContext('allow-worker');
    target = await startHeaderRecorder();
  });
  afterAll(async () => {
    await worker?.kill();
    await ctx?.close();
    await target?.close();
  });

  it('runs only what DURABATCH_ALLOW_* lists: an unset list allows nothing, shown at start', async () => {
    const logFile = path.join(ctx.dir, 'worker.out');
    // No allow setting at all (empty variables count as unset) except one origin.
    worker = spawnWorkerProcess({
      taskQueue: ctx.taskQueue,
      logFile,
      env: {
        DURABATCH_ALLOW_COMMANDS: '',
        DURABATCH_ALLOW_MODULES: '',
        DURABATCH_ALLOW_ORIGINS: target.url,
        DURABATCH_ALLOW_PATHS: ctx.dir,
      },
    });
    await waitForPollers(ctx.client, ctx.taskQueue, 1);
    const marker = path.join(ctx.dir, 'touched');
    const csv = await writeCsv(ctx.dir, 'items.csv', [{ id: 'a' }]);
    const forged = await startBatchDirect(
      ctx,
      csv,
      ctx.config({
        batchId: `allow-worker-cmd-${Date.now()}`,
        idColumn: 'id',
        processor: 'command',
        command: { argv: ['touch', marker] },
      }),
      {},
    );
    expect(await finalProgress(forged.handle)).toMatchObject({ total: 1, failed: 1 });
    expect(existsSync(marker)).toBe(false);
    const [item] = await readItems(forged.outputDir);
    expect(item).toMatchObject({ errorType: 'ProcessorNotAllowed' });

    const listed = await startBatchDirect(
      ctx,
      csv,
      ctx.config({
        batchId: `allow-worker-http-${Date.now()}`,
        idColumn: 'id',
        http: { url: `${target.url}/x/{id}` },
      }),
      {},
    );
    expect(await finalProgress(listed.handle)).toMatchObject({ total: 1, succeeded: 1 });
    expect(target.requests.map((r) => r.path)).toEqual(['/x/a']);
    const log = await readFile(logFile, 'utf8');
    expect(log).toContain('"commands":"none"');
    expect(log).toContain(`"origins":"${target.url}"`);
    // Its storage: the listed folder, then DURABATCH_HOME and ./output, always allowed.
    expect(log).toMatch(new RegExp(`"paths":"${ctx.dir}, [^"]+, [^"]+/output"`));
  });
});

describe("run's in-process worker runs its own batch's processors exactly, nothing else", () => {
  let ctx: TestContext;
  let script: string;
  let seq = 0;
  const marker = () => path.join(ctx.dir, 'forged-ran');
  // What `durabatch run x.csv --command 'node score.mjs {id}'` starts: its worker's allow-list comes
  // from its own batch, on a task queue anyone with access to Temporal can start workflows on.
  const own = (): ConfigInput => ({
    processor: 'command',
    command: { argv: [process.execPath, script, '{id}'] },
  });

  beforeAll(async () => {
    ctx = await createTestContext('allow-run');
    script = path.join(ctx.dir, 'score.mjs');
    await writeFile(
      script,
      "import { writeFileSync } from 'node:fs';\n" +
        `writeFileSync(${JSON.stringify(path.join(ctx.dir, 'scored-'))} + process.argv[2], 'ok');\n`,
    );
    const steps = stepsFromConfig(ctx.config({ batchId: 'plan', idColumn: 'id', ...own() }));
    // Its storage as `run` gives it: its home, and (here, for every batch of the test) the output root.
    await ctx.startWorker({
      allow: allowListForBatch(undefined, steps, { home: ctx.home, outputDir: path.join(ctx.dir, 'output') }),
    });
  });
  afterAll(async () => {
    await ctx?.close();
  });

  async function runDirect(name: string, overrides: ConfigInput) {
    const batchId = `allow-run-${name}-${Date.now()}-${++seq}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'a' }, { id: 'b' }]);
    const started = await startBatchDirect(
      ctx,
      csv,
      ctx.config({ batchId, idColumn: 'id', ...overrides }),
      {},
    );
    return { progress: await finalProgress(started.handle), items: await readItems(started.outputDir) };
  }

  it("runs the user's own batch", async () => {
    const { progress } = await runDirect('own', own());
    expect(progress).toMatchObject({ total: 2, succeeded: 2, failed: 0 });
    expect(await readFile(path.join(ctx.dir, 'scored-a'), 'utf8')).toBe('ok');
  });

  it('refuses a forged batch with the same program and other arguments, cwd or env: nothing runs', async () => {
    const code = `require('fs').writeFileSync(${JSON.stringify(marker())}, 'x')`;
    const forgeries: ConfigInput[] = [
      { processor: 'command', command: { argv: [process.execPath, '-e', code] } },
      { processor: 'command', command: { argv: [process.execPath, script, '{id}'], cwd: '/' } },
      {
        processor: 'command',
        command: {
          argv: [process.execPath, script, '{id}'],
          env: { NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(code)}` },
        },
      },
    ];
    for (const [i, forged] of forgeries.entries()) {
      const { progress, items } = await runDirect(`forged-${i}`, forged);
      expect(existsSync(marker())).toBe(false);
      expect(progress).toMatchObject({ total: 2, succeeded: 0, failed: 2 });
      for (const item of items) {
        expect(item).toMatchObject({ status: 'failed', errorType: 'ProcessorNotAllowed', attempts: 1 });
        expect(item.errorMessage).toContain("runs its own batch's processors exactly as given");
      }
    }
  });
});

// Secrets never leave the activity: every value an attempt resolves from the worker's environment is
// masked before its failure, outcome or log lines leave processItem. Real paths that used to leak:
// a target echoing the API key in a 4xx body (failure message) and in a 2xx body (output and body),
// a command printing its token to stderr (failure) and stdout (output), a secret with a line break in
// a header (the header error quotes it), and a module throwing a message holding its token. Each
// batch ends, then the secret's bytes are searched in every file of its output directory, in every
// workflow history of the batch (parent and children, full dump) and in the worker's own log.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema';
import type { ItemOutcome } from '../../workflows/types';
import { createTestContext, type TestContext } from '../helpers/context';
import { finalProgress, readItems } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { batchHistoryTexts } from '../helpers/history';
import { runCli } from '../helpers/cli';
import { inject } from 'vitest';

const SECRETS = {
  HTTP_API_KEY: 'sk-live-4f9c2a7be1d04e8b',
  COMMAND_TOKEN: 'cmd-token-83b1f0c9d2e7',
  MULTILINE_TOKEN: 'first-line-secret-61a2\nsecond-line-secret-9e4d',
  MODULE_API_TOKEN: 'mod-token-5c7e2b9a1f3d',
  // Not secret-named: masked only because a step of the batch refers to it.
  PARTNER_ROUTE: 'route-7c1e9a04b6d2',
};
const needles = [
  ...Object.values(SECRETS),
  ...SECRETS.MULTILINE_TOKEN.split('\n'),
  JSON.stringify(SECRETS.MULTILINE_TOKEN).slice(1, -1),
];

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(path.join(entry.parentPath, entry.name));
  }
  return out;
}

describe('secrets never leave the activity', () => {
  let ctx: TestContext;
  let target: Server;
  let targetUrl: string;
  const received: string[] = [];
  let seq = 0;

  beforeAll(async () => {
    // An echoing target: a 401 quoting the key it got, and a 200 whose JSON holds it.
    target = createServer((req, res) => {
      const key = String(req.headers['x-api-key'] ?? '');
      received.push(key);
      req.resume();
      if (req.url?.startsWith('/reject')) {
        res.writeHead(401, { 'content-type': 'text/plain' }).end(`invalid API key ${key}`);
      } else {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ echo: key, ok: true }));
      }
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
    ctx = await createTestContext('secrets');
    // The module reads its token from the worker's process environment, as a user's module would.
    process.env.MODULE_API_TOKEN = SECRETS.MODULE_API_TOKEN;
    await ctx.startWorker({ env: { ...process.env, ...SECRETS } });
  });
  afterAll(async () => {
    delete process.env.MODULE_API_TOKEN;
    await ctx?.close();
    await new Promise<void>((resolve) => {
      target?.closeAllConnections();
      target?.close(() => resolve());
    });
  });

  /** Runs a one-item batch to its end; returns its outcome and its output directory. */
  async function runBatch(
    name: string,
    overrides: ConfigInput,
  ): Promise<{ item: ItemOutcome; batchId: string; outputDir: string }> {
    const batchId = `secrets-${name}-${Date.now()}-${++seq}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'k1' }]);
    const config = ctx.config({ batchId, idColumn: 'id', maxAttempts: 2, logLevel: 'trace', ...overrides });
    const started = await ctx.batches.start(csv, config);
    await finalProgress(started.handle);
    const [item] = await readItems(started.outputDir);
    return { item: item!, batchId, outputDir: started.outputDir };
  }

  /** No secret byte in any output file, any history of the batch, or the worker's log. */
  async function expectNoSecret(batchId: string, outputDir: string): Promise<void> {
    const files = await filesUnder(outputDir);
    expect(files.map((f) => path.relative(outputDir, f))).toEqual(
      expect.arrayContaining(['results/items.jsonl', 'results/summary.json', 'logs/worker.jsonl']),
    );
    const histories = await batchHistoryTexts(ctx.client, batchId);
    // The parent's and every item child's: the whole batch as Temporal stored it.
    expect(histories.length).toBeGreaterThanOrEqual(2);
    const texts = [
      ...(await Promise.all(files.map(async (f) => ({ where: f, text: await readFile(f, 'latin1') })))),
      ...histories.map((h) => ({ where: `history ${h.workflowId}`, text: h.text })),
      { where: 'worker log', text: await readFile(path.join(ctx.dir, 'worker.log'), 'latin1') },
    ];
    for (const { where, text } of texts) {
      for (const needle of needles) expect(text.includes(needle), `${where} holds a secret`).toBe(false);
    }
  }

  it('http: a 4xx body echoing the key (failure) and a 2xx body echoing it (output)', async () => {
    const headers = { 'X-Api-Key': '${env:HTTP_API_KEY}' };
    const rejected = await runBatch('http-4xx', { http: { url: `${targetUrl}/reject/{id}`, headers } });
    expect(rejected.item).toMatchObject({
      status: 'failed',
      errorType: 'PermanentTargetError',
      httpStatus: 401,
    });
    expect(rejected.item.errorMessage).toContain('invalid API key ****');
    await expectNoSecret(rejected.batchId, rejected.outputDir);

    const echoed = await runBatch('http-2xx', { http: { url: `${targetUrl}/ok/{id}`, headers } });
    expect(echoed.item).toMatchObject({ status: 'succeeded', httpStatus: 200 });
    expect(echoed.item.output).toContain('"echo":"****"');
    await expectNoSecret(echoed.batchId, echoed.outputDir);
    // The target did get the real key: masking happens after the request, not instead of it.
    expect(received.filter((k) => k === SECRETS.HTTP_API_KEY)).toHaveLength(2);
  });

  it('command: a token printed to stderr (failure) and to stdout (output)', async () => {
    const env = { TOKEN: '${env:COMMAND_TOKEN}' };
    const script = (stream: number, code: number) =>
      `process.stderr.write('noise\\n'); require('fs').writeSync(${stream}, 'token is ' + process.env.TOKEN + '\\n'); process.exit(${code})`;
    const failed = await runBatch('cmd-stderr', {
      processor: 'command',
      command: { argv: [process.execPath, '-e', script(2, 3)], env },
    });
    expect(failed.item).toMatchObject({ status: 'failed', errorType: 'CommandFailed' });
    expect(failed.item.errorMessage).toContain('token is ****');
    await expectNoSecret(failed.batchId, failed.outputDir);

    const printed = await runBatch('cmd-stdout', {
      processor: 'command',
      command: { argv: [process.execPath, '-e', script(1, 0)], env },
    });
    expect(printed.item).toMatchObject({ status: 'succeeded' });
    expect(printed.item.output).toContain('token is ****');
    await expectNoSecret(printed.batchId, printed.outputDir);
  });

  it('http: a secret with a line break, quoted by the header error', async () => {
    const { item, batchId, outputDir } = await runBatch('http-newline', {
      http: { url: `${targetUrl}/ok/{id}`, headers: { Authorization: 'Bearer ${env:MULTILINE_TOKEN}' } },
    });
    expect(item.status).toBe('failed');
    expect(item.errorMessage).toMatch(
      /header authorization: its value holds a line break or NUL character \(value not shown/,
    );
    await expectNoSecret(batchId, outputDir);
  });

  it("pipeline: a command printing the variable only another step's header refers to", async () => {
    // Step 1 sends ${env:PARTNER_ROUTE} in a header; step 2's command inherits the worker's whole
    // environment and prints it (stdout: the output; stderr then exit 3: the failure).
    const print = (stream: number, code: number) =>
      `require('fs').writeSync(${stream}, 'route ' + process.env.PARTNER_ROUTE + '\\n'); process.exit(${code})`;
    const pipeline = (stream: number, code: number): ConfigInput => ({
      steps: [
        {
          name: 'send',
          processor: 'http',
          http: { url: `${targetUrl}/ok/{id}`, headers: { 'X-Route': '${env:PARTNER_ROUTE}' } },
        },
        {
          name: 'print',
          processor: 'command',
          command: { argv: [process.execPath, '-e', print(stream, code)] },
        },
      ],
    });
    const printed = await runBatch('pipeline-stdout', pipeline(1, 0));
    expect(printed.item).toMatchObject({ status: 'succeeded' });
    expect(printed.item.output).toContain('route ****');
    await expectNoSecret(printed.batchId, printed.outputDir);

    const failed = await runBatch('pipeline-stderr', pipeline(2, 3));
    expect(failed.item).toMatchObject({ status: 'failed', errorType: 'CommandFailed' });
    expect(failed.item.errorMessage).toContain('route ****');
    await expectNoSecret(failed.batchId, failed.outputDir);
  });

  it('module: an error message holding the token the module read', async () => {
    const file = path.join(ctx.dir, 'leaky.mjs');
    await writeFile(
      file,
      'export default async function process(item, ctx) {\n' +
        "  ctx.log.info({ token: globalThis.process.env.MODULE_API_TOKEN }, 'calling with ' + globalThis.process.env.MODULE_API_TOKEN);\n" +
        "  throw new Error('upstream refused token ' + globalThis.process.env.MODULE_API_TOKEN);\n" +
        '}\n',
    );
    const { item, batchId, outputDir } = await runBatch('module', {
      processor: 'module',
      module: { path: file },
    });
    expect(item).toMatchObject({ status: 'failed', attempts: 2 });
    expect(item.errorMessage).toContain('upstream refused token ****');
    await expectNoSecret(batchId, outputDir);
  });

  it('durabatch run: the terminal, the in-process worker log and the outputs show no echoed key', async () => {
    const batchId = `secrets-cli-${Date.now()}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'k1' }, { id: 'k2' }]);
    const outputDir = path.join(ctx.dir, 'cli-out');
    const res = await runCli(
      [
        'run',
        csv,
        '--url',
        `${targetUrl}/reject/{id}`,
        '--header',
        'X-Api-Key: ${env:HTTP_API_KEY}',
        '--id-column',
        'id',
        '--task-queue',
        `${ctx.taskQueue}-cli`,
        '--output-dir',
        outputDir,
        '--batch-id',
        batchId,
        '--max-attempts',
        '1',
      ],
      {
        env: {
          TEMPORAL_ADDRESS: ctx.address,
          DURABATCH_HOME: inject('toolsHome'),
          HTTP_API_KEY: SECRETS.HTTP_API_KEY,
          DURABATCH_LOG_LEVEL: 'trace',
        },
      },
    );
    expect(res.code).toBe(1); // nothing succeeded
    expect(res.stderr).toContain('invalid API key ****');
    for (const needle of needles) expect(res.stdout + res.stderr).not.toContain(needle);
    await expectNoSecret(batchId, outputDir);
  });
});

// A running batch that cannot move says why, at once (a real dev server, the real CLI): no worker
// polling its task queue (never started, or stopped), a workflow task failing on every attempt.
// `status` and `watch` name the cause and the command to run instead of timing out on a query and
// blaming the address; `resume` of a batch no worker runs runs one in this process to the end.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import { runCli, type CliResult } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import { patientRows, writeCsv } from '../helpers/files';
import { spawnWorkerProcess } from '../helpers/worker-process';

let ctx: TestContext;
let target: TargetApi;

const env = () => ({ DURABATCH_HOME: ctx.home, TEMPORAL_ADDRESS: ctx.address });
const durabatch = (args: string[]): Promise<CliResult & { ms: number }> => {
  const started = Date.now();
  return runCli(args, { env: env(), cwd: ctx.dir, timeoutMs: 90_000 }).then((r) => ({
    ...r,
    ms: Date.now() - started,
  }));
};

/** Starts a batch of `rows` items on `taskQueue` (no worker is started for it here). */
async function startBatch(
  name: string,
  taskQueue: string,
  rows = 4,
  rate?: number,
): Promise<{ batchId: string; out: string }> {
  const csv = await writeCsv(ctx.dir, `${name}.csv`, patientRows(rows));
  const out = path.join(ctx.dir, `${name}-out`);
  const batchId = `${name}-${Date.now().toString(36)}`;
  await ctx.batches.start(
    csv,
    ctx.config({
      http: { url: `${target.url}/patients` },
      idColumn: 'id',
      batchId,
      taskQueue,
      outputDir: out,
      ...(rate ? { rate } : {}),
    }),
  );
  return { batchId, out };
}

describe('status, watch and resume of a batch that cannot move', () => {
  beforeAll(async () => {
    ctx = await createTestContext('stalls');
    target = await startTargetApi({ failureRate: 0, rateLimitRate: 0, latencyMs: [1, 3] });
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('names the task queue no worker polls, at once; resume runs a worker in-process to the end', async () => {
    const taskQueue = `${ctx.taskQueue}-none`;
    const { batchId, out } = await startBatch('noworker', taskQueue);
    const hint = `start one: \`durabatch worker --task-queue ${taskQueue}\` (or \`durabatch resume ${batchId}\`, which runs one in this process until the batch ends)`;

    const status = await durabatch(['status', batchId]);
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(
      `durabatch: batch ${batchId} is waiting: no worker is polling \`${taskQueue}\`\n  fix: ${hint}\n`,
    );
    expect(status.stderr).not.toMatch(/TEMPORAL_ADDRESS|TLS/);
    // A bound on a hang (the query used to wait ~40 s), not a performance figure.
    expect(status.ms).toBeLessThan(8_000);

    const json = await durabatch(['status', batchId, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      batchId,
      status: 'running',
      stalled: {
        kind: 'no-worker',
        taskQueue,
        message: `batch ${batchId} is waiting: no worker is polling \`${taskQueue}\``,
        hint,
      },
    });

    // watch says it at once and goes on waiting.
    const watch = spawn(process.execPath, [path.resolve('bin/durabatch.js'), 'watch', batchId], {
      env: { ...process.env, CI: 'true', ...env() },
      cwd: ctx.dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let watchErr = '';
    watch.stderr.on('data', (d: Buffer) => (watchErr += d.toString()));
    const watchStarted = Date.now();
    while (!watchErr.includes('waiting:') && Date.now() - watchStarted < 15_000)
      await new Promise((r) => setTimeout(r, 100));
    expect(watchErr).toContain(
      `waiting: batch ${batchId} is waiting: no worker is polling \`${taskQueue}\` — ${hint}`,
    );
    expect(Date.now() - watchStarted).toBeLessThan(10_000);
    expect(watch.exitCode).toBeNull();
    watch.kill('SIGTERM');

    // resume --no-worker refuses to wait silently.
    const refused = await durabatch(['resume', batchId, '--no-worker']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`no worker is polling \`${taskQueue}\``);

    // resume runs a worker here and follows the batch to its end.
    const resumed = await durabatch(['resume', batchId]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(
      `no worker was polling \`${taskQueue}\`: running one in this process until the batch ends`,
    );
    expect(resumed.stderr).toContain(`batch ${batchId} completed`);
    const summary = JSON.parse(await readFile(path.join(out, 'results', 'summary.json'), 'utf8')) as {
      status: string;
      succeeded: number;
    };
    expect(summary).toMatchObject({ status: 'completed', succeeded: 4 });
  }, 150_000);

  it('names a workflow task that fails on every attempt, with its cause and message', async () => {
    await ctx.startWorker();
    const workflowId = `wft-failing-${Date.now().toString(36)}`;
    // A workflow type no worker knows: every workflow task fails, the workflow stays running.
    await ctx.client.workflow.start('noSuchBatchWorkflow', {
      taskQueue: ctx.taskQueue,
      workflowId,
      args: [],
    });
    let res: CliResult & { ms: number };
    const until = Date.now() + 60_000;
    do {
      res = await durabatch(['status', workflowId]);
    } while (!res.stderr.includes('workflow task has failed') && Date.now() < until);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      new RegExp(
        `^durabatch: batch ${workflowId} is stuck: its workflow task has failed \\d+ time\\(s\\) in a row ` +
          `\\(WORKFLOW_WORKER_UNHANDLED_FAILURE: [^)]*noSuchBatchWorkflow[^)]*\\); no item starts or ends and no query is answered until it passes\\n` +
          `  fix: see the worker's log for the stack, fix the cause and restart the workers; ` +
          `\`temporal workflow show --workflow-id ${workflowId}\` shows the failure\\n$`,
      ),
    );
    expect(res.ms).toBeLessThan(8_000);
    const resume = await durabatch(['resume', workflowId]);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toContain(`batch ${workflowId} is stuck: its workflow task has failed`);
    await ctx.client.workflow.getHandle(workflowId).terminate('test over');
  }, 120_000);

  it('after its worker is killed, status answers within the query bound and names the task queue', async () => {
    const taskQueue = `${ctx.taskQueue}-crash`;
    const worker = spawnWorkerProcess({ taskQueue, logFile: path.join(ctx.dir, 'crash-worker.log') });
    // One item every 2 s: the batch is mid-way when its only worker dies.
    const { batchId } = await startBatch('crash', taskQueue, 20, 0.5);
    for (const until = Date.now() + 30_000; Date.now() < until;) {
      const s = await durabatch(['status', batchId, '--json']);
      if (s.code === 0 && (JSON.parse(s.stdout) as { succeeded: number }).succeeded >= 1) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await worker.kill();
    const status = await durabatch(['status', batchId]);
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(
      `durabatch: batch ${batchId} did not answer within 10 s: the worker that last polled \`${taskQueue}\` may have stopped, or is overloaded\n` +
        `  fix: try again in a minute, or start a worker: \`durabatch worker --task-queue ${taskQueue}\`\n`,
    );
    expect(status.stderr).not.toMatch(/TEMPORAL_ADDRESS|TLS/);
    // The query is bounded to 10 s while the dead worker is still listed as a recent poller.
    expect(status.ms).toBeLessThan(16_000);
    await ctx.client.workflow.getHandle(batchId).terminate('test over');
  }, 120_000);

  it('cancel with no worker says it waits for one; resume runs one and the batch ends cancelled', async () => {
    const taskQueue = `${ctx.taskQueue}-cancel`;
    const { batchId, out } = await startBatch('cancelwait', taskQueue);
    const cancel = await durabatch(['cancel', batchId]);
    expect(cancel.code).toBe(0);
    expect(cancel.stderr).toBe(
      `durabatch: the cancellation waits: batch ${batchId} is waiting: no worker is polling \`${taskQueue}\`\n` +
        `  fix: start one: \`durabatch worker --task-queue ${taskQueue}\` (or \`durabatch resume ${batchId}\`, which runs one in this process until the batch ends)\n`,
    );
    const resumed = await durabatch(['resume', batchId]);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain(`batch ${batchId} cancelled`);
    const summary = JSON.parse(await readFile(path.join(out, 'results', 'summary.json'), 'utf8')) as {
      status: string;
      total: number;
    };
    expect(summary).toMatchObject({ status: 'cancelled', total: 4 });
  }, 120_000);
});

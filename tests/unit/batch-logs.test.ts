// A batch's own log file: lines a worker logs about a batch reach output/<batchId>/logs/worker.jsonl
// as well as the worker's own log, exactly once, at the levels asked for; a worker that cannot see
// the batch's output directory creates nothing there.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendBatchLogLine } from '../../src/logging/batch-log-file';
import { BatchLoggers } from '../../src/logging/batch-loggers';
import { createLogger } from '../../src/logging/logger';

type Line = Record<string, unknown>;

async function lines(file: string): Promise<Line[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Line);
}

async function setup() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'batch-logs-'));
  const outputDir = path.join(dir, 'output', 'b1');
  await mkdir(outputDir, { recursive: true });
  return { dir, outputDir, batchFile: path.join(outputDir, 'logs', 'worker.jsonl') };
}

describe('BatchLoggers', () => {
  it("writes a batch's lines to the worker's log and to the batch's logs/worker.jsonl", async () => {
    const { dir, outputDir, batchFile } = await setup();
    const workerFile = path.join(dir, 'worker.jsonl');
    const base = createLogger({ level: 'info', file: workerFile, terminal: false });
    const logs = new BatchLoggers(base, { processor: 'debug' });
    const item = logs.op(outputDir, 'processor').child({ batchId: 'b1', itemKey: 'K1' });
    item.debug({ status: 201 }, 'answered');
    item.trace('too fine'); // below the processor level
    logs.op(outputDir, 'results').debug('results debug'); // results stays at the base level, info
    logs.op(outputDir, 'results').info({ batchId: 'b1' }, 'report written');

    const expected = [
      { level: 20, op: 'processor', batchId: 'b1', itemKey: 'K1', status: 201, msg: 'answered' },
      { level: 30, op: 'results', batchId: 'b1', msg: 'report written' },
    ];
    for (const file of [batchFile, workerFile]) {
      const got = await lines(file);
      expect(got).toEqual(
        expected.map((e) => ({ ...e, pid: process.pid, time: expect.any(String) as unknown })),
      );
    }
  });

  it('adds no second copy when the worker already logs to the batch file (`durabatch run`)', async () => {
    const { outputDir, batchFile } = await setup();
    const base = createLogger({ level: 'info', file: batchFile, terminal: false });
    new BatchLoggers(base).op(outputDir, 'processor').info({ batchId: 'b1' }, 'once');
    expect((await lines(batchFile)).map((l) => l.msg)).toEqual(['once']);
  });

  it('creates nothing for a batch whose output directory this worker cannot see, and says so once', async () => {
    const { dir, outputDir } = await setup();
    const missing = path.join(dir, 'not-mounted', 'b2');
    const workerFile = path.join(dir, 'worker.jsonl');
    const base = createLogger({ level: 'info', file: workerFile, terminal: false });
    const logs = new BatchLoggers(base);
    logs.op(missing, 'processor').info({ batchId: 'b2' }, 'first');
    logs.op(missing, 'processor').info({ batchId: 'b2' }, 'second');
    logs.op(outputDir, 'processor').info({ batchId: 'b1' }, 'other batch');
    expect(existsSync(path.join(dir, 'not-mounted'))).toBe(false);
    const got = await lines(workerFile);
    expect(got.map((l) => [l.level, l.msg])).toEqual([
      [40, 'cannot write the batch log; its lines go to this worker log only'],
      [30, 'first'],
      [30, 'second'],
      [30, 'other batch'],
    ]);
    expect(got[0]).toMatchObject({ file: path.join(missing, 'logs', 'worker.jsonl') });
  });
});

describe('appendBatchLogLine', () => {
  it("appends one line in pino's shape to the batch's log", async () => {
    const { outputDir, batchFile } = await setup();
    appendBatchLogLine(outputDir, { event: 'batch.start', batchId: 'b1', total: 3 }, 'batch started');
    expect(await lines(batchFile)).toEqual([
      {
        level: 30,
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
        pid: process.pid,
        hostname: os.hostname(),
        event: 'batch.start',
        batchId: 'b1',
        total: 3,
        msg: 'batch started',
      },
    ]);
  });
});

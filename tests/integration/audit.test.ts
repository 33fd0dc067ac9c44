// Every operator action is audited by the batch workflow itself, whatever client sent it: the
// durabatch CLI, the temporal CLI (standing in here for any other client, such as the Web UI) or an
// SDK client; each entry names the sender's identity as Temporal recorded it.
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findTemporalCli } from '../../src/server/provision';
import { runCli } from '../helpers/cli';
import { batchEnd, controlRows, waitFor } from '../helpers/engine';
import { readJsonLines } from '../helpers/files';
import { engineHarness, type EngineHarness } from '../helpers/harness';

const execFileAsync = promisify(execFile);

interface AuditLine {
  action: string;
  by?: string;
  user?: string;
  args?: Record<string, unknown>;
  seq?: number;
}

describe('audit of operator actions', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('audit');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('records pause/resume from the temporal CLI, set from an SDK client and cancel --item from durabatch', async () => {
    const temporal = await findTemporalCli({ home: inject('toolsHome'), allowInstall: false });
    const tctl = (...args: string[]) =>
      execFileAsync(temporal.path, [...args, '--address', h.ctx.address, '--namespace', 'default']);
    const b = await h.start(
      'audit',
      controlRows(8, () => ({ delayMs: 400 })),
      { concurrency: 1 },
    );
    const auditFile = path.join(b.outputDir, 'audit', 'audit.jsonl');

    await tctl(
      'workflow',
      'signal',
      '--workflow-id',
      b.batchId,
      '--name',
      'pause',
      '--input',
      '{"reason":"lunch"}',
    );
    await waitFor('paused', async () => (await h.ctx.batches.progress(b.batchId)).status === 'paused');
    await h.ctx.batches.setLimits(b.batchId, { concurrency: 2 });
    const cancelled = await runCli(['cancel', b.batchId, '--item', 'K0008'], {
      env: { DURABATCH_HOME: h.ctx.home, TEMPORAL_ADDRESS: h.ctx.address, DURABATCH_USER: 'alice' },
    });
    expect(cancelled.code, cancelled.stderr).toBe(0);
    await tctl('workflow', 'signal', '--workflow-id', b.batchId, '--name', 'resume');

    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', succeeded: 7, skipped: 1 },
    });
    const lines = await waitFor('four operator entries', async () => {
      const all = await readJsonLines<AuditLine>(auditFile);
      const ops = all.filter((l) => l.action !== 'start');
      return ops.length >= 4 ? ops : undefined;
    });
    expect(lines.map((l) => [l.action, l.args])).toEqual([
      ['pause', { reason: 'lunch' }],
      ['set', { concurrency: 2 }],
      ['cancel', { item: 'K0008', result: 'skipped' }],
      ['resume', undefined],
    ]);
    const [pause, set, cancel, resume] = lines;
    expect(pause!.by).toMatch(/^temporal-cli:/);
    expect(resume!.by).toMatch(/^temporal-cli:/);
    expect(set!.by).toBe(`${process.pid}@${os.hostname()}`); // the SDK's default identity
    expect(cancel!.by).toMatch(/^durabatch-cli alice@/);
    // Written once each, in order.
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
  });
});

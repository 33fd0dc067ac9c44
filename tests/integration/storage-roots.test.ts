// A forged workflow input cannot make a worker read or write outside its own storage. Batches are
// started straight on the task queue (the client chooses the whole input, as
// `temporal workflow start --type batchWorkflow` would) with an output directory or a staged source
// outside the worker's storage roots, or inside them through a symlink. Nothing is written there (the
// folder stays empty, on disk), the item's command never runs, and the batch pauses naming the path
// and the setting: every item would be refused alike, and an operator who meant that folder adds it
// to allow.paths and resumes. A batch inside the roots runs as before on the same worker.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchInputFromConfig } from '../../src/client/batch-input-from-config';
import { stepsFromConfig } from '../../src/client/steps';
import { stageOptionsFromConfig } from '../../src/config/stage-options';
import { sourceRef, stageSource } from '../../src/source/stage';
import { ALLOW_ANY } from '../../src/worker/allow-settings';
import type { BatchProgress } from '../../workflows/types';
import { createTestContext, type TestContext } from '../helpers/context';
import { allSucceeded, finalProgress, liveProgress, waitFor } from '../helpers/engine';
import { writeCsv } from '../helpers/files';

describe('worker storage roots', () => {
  let ctx: TestContext;
  let forged: string;
  let seq = 0;

  beforeAll(async () => {
    ctx = await createTestContext('roots');
    // Outside every root, as /etc/cron.d or ~/.ssh would be: an existing folder the worker can write.
    forged = await mkdtemp(path.join(os.tmpdir(), 'durabatch-forged-'));
    await ctx.startWorker({ allow: { ...ALLOW_ANY, paths: [ctx.home, path.join(ctx.dir, 'output')] } });
  });
  afterAll(async () => {
    await ctx?.close();
    await rm(forged, { recursive: true, force: true });
  });

  /**
   * Two items whose command would leave a marker in ctx.dir, started as a forger would: the input
   * written whole and started on the task queue, without durabatch's client (which itself writes the
   * start line into the output directory). The source is staged under `home`.
   */
  async function start(name: string, outputDir: string, home = ctx.home) {
    const batchId = `roots-${name}-${Date.now()}-${++seq}`;
    const csv = await writeCsv(ctx.dir, `${batchId}.csv`, [{ id: 'a' }, { id: 'b' }]);
    const marker = path.join(ctx.dir, `${batchId}-ran`);
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      processor: 'command',
      command: { argv: ['touch', marker] },
    });
    const source = sourceRef(await stageSource(csv, stageOptionsFromConfig(config, home)));
    const input = batchInputFromConfig(config, {
      batchId,
      source,
      steps: stepsFromConfig(config),
      outputDir,
    });
    const handle = await ctx.client.workflow.start('batchWorkflow', {
      workflowId: batchId,
      taskQueue: ctx.taskQueue,
      args: [input],
    });
    return { batchId, handle, marker };
  }

  async function pausedOf(handle: WorkflowHandle): Promise<BatchProgress> {
    return waitFor('the batch to pause', async () => {
      const p = await liveProgress(handle);
      return p.status === 'paused' ? p : undefined;
    });
  }

  /** Cancels the paused batch and waits for its workflow to close, however it ends. */
  async function cancelAndClose(batchId: string, handle: WorkflowHandle): Promise<void> {
    await ctx.batches.cancel(batchId);
    await handle.result().catch(() => undefined);
  }

  it('an output directory outside the roots: nothing written there, nothing ran, the batch pauses', async () => {
    const target = path.join(forged, 'out');
    await mkdir(target);
    const { batchId, handle, marker } = await start('out', target);
    const progress = await pausedOf(handle);
    expect(progress.statusReason).toContain(`the batch's output directory "${target}"`);
    expect(progress.statusReason).toContain('DURABATCH_ALLOW_PATHS');
    expect(progress.statusReason).toContain(`durabatch resume ${batchId}`);
    expect(progress).toMatchObject({ succeeded: 0, failed: 0 });
    expect(existsSync(marker)).toBe(false);
    // Cancelling runs the ending (results pages, report, audit): refused there too.
    await cancelAndClose(batchId, handle);
    expect(await readdir(target)).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it('an output directory inside the roots that is a symlink out of them is refused the same', async () => {
    const target = path.join(forged, 'via-link');
    await mkdir(target);
    const link = path.join(ctx.dir, 'output', `link-${Date.now()}`);
    await mkdir(path.dirname(link), { recursive: true });
    await symlink(target, link);
    const { batchId, handle, marker } = await start('link', link);
    const progress = await pausedOf(handle);
    expect(progress.statusReason).toContain(`resolves to ${target}, outside this worker's storage roots`);
    await cancelAndClose(batchId, handle);
    expect(await readdir(target)).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it('a staged source outside the roots is never read: the batch pauses before any item', async () => {
    // Another DURABATCH_HOME, outside this worker's: its client stages the source there.
    const otherHome = path.join(forged, 'home');
    await mkdir(otherHome);
    const outputDir = path.join(ctx.dir, 'output', `src-${Date.now()}`);
    await mkdir(outputDir, { recursive: true });
    const { batchId, handle, marker } = await start('src', outputDir, otherHome);
    const progress = await pausedOf(handle);
    expect(progress.statusReason).toContain(`the batch's staged source "${path.join(otherHome, 'staged')}`);
    expect(progress.statusReason).toContain('--allow-path');
    expect(progress).toMatchObject({ succeeded: 0, failed: 0, running: 0 });
    expect(existsSync(marker)).toBe(false);
    await cancelAndClose(batchId, handle);
    expect(existsSync(marker)).toBe(false);
  });

  it('a batch inside the roots runs as before', async () => {
    const outputDir = path.join(ctx.dir, 'output', `ok-${Date.now()}`);
    await mkdir(outputDir, { recursive: true });
    const { handle, marker } = await start('ok', outputDir);
    expect(await finalProgress(handle)).toMatchObject(allSucceeded(2));
    expect(existsSync(marker)).toBe(true);
    expect(existsSync(path.join(outputDir, 'results', 'summary.json'))).toBe(true);
  });
});

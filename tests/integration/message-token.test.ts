// The token a child's internal messages must carry cannot be computed from what the workflow shows.
// It used to come from uuid4() in workflow code: the workflow's PRNG, seeded from the public run id,
// so a client that can list batches and signal them could compute the first child's token and
// forge its report (freeing a slot) or, in page mode, a pageControl with 500 slots. Now the client
// that starts the batch draws a secret into the batch's input and each child's token is
// HMAC-SHA-256(secret, child id). Each test sends the token the old scheme would have given
// (tests/helpers/workflow-random.ts, checked against a batch started the old way, without a secret)
// and asserts at the target that it changed nothing. Real dev server, real worker.
import { createHmac } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBatchInput } from '../../src/client/batch-records';
import { decodePayload } from '../../src/client/listing';
import type { BatchInput } from '../../workflows/batch-input';
import { batchIdKey } from '../../workflows/search-attributes';
import type { ItemOutcome } from '../../workflows/types';
import { batchEnd, controlRows, key, liveProgress, readItems, waitFor } from '../helpers/engine';
import { batchHistoryTexts } from '../helpers/history';
import { controlUrl, engineHarness, type EngineHarness } from '../helpers/harness';
import { firstUuid4 } from '../helpers/workflow-random';

/** The decoded input a workflow (batch, item or page child) was started with, once it exists. */
async function startInput(client: Client, workflowId: string): Promise<Record<string, unknown>> {
  return await waitFor(`the input of ${workflowId}`, async () => {
    const res = await client.workflowService
      .getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId }, maximumPageSize: 1 })
      .catch(() => undefined);
    const payload = res?.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    return payload ? ((await decodePayload(client, payload)) as Record<string, unknown>) : undefined;
  });
}

const hmac = (secret: string, childId: string) => createHmac('sha256', secret).update(childId).digest('hex');

function outcomeOf(index: number): ItemOutcome {
  const now = new Date().toISOString();
  return {
    index,
    key: key(index),
    status: 'succeeded',
    attempts: 1,
    latencyMs: 1,
    startedAt: now,
    endedAt: now,
  };
}

describe('internal message tokens', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await engineHarness('message-token');
  });
  afterAll(() => h?.close());

  it('per item: the token derives from the batch secret; one computed from the run id is ignored', async () => {
    const rows = controlRows(8, (i) => ({ delayMs: i < 2 ? 2_500 : 150 }));
    const b = await h.start('per-item', rows, { concurrency: 2 });
    await waitFor('two items running', async () => (await liveProgress(b.handle)).running === 2);

    const input = await readBatchInput(h.ctx.batches, b.batchId);
    expect(Buffer.from(input.messageSecret!, 'base64url')).toHaveLength(32);
    const childId = `${b.batchId}/${key(0)}`;
    const child = await startInput(h.ctx.client, childId);
    expect(child.reportToken).toBe(hmac(input.messageSecret!, childId));
    expect(child).not.toHaveProperty('messageSecret');

    // What a forger computes from the public run id: the old scheme's token of the first child.
    const { runId } = await b.handle.describe();
    const forged = firstUuid4(runId);
    expect(forged).not.toBe(child.reportToken);
    await b.handle.signal('itemCompleted', { ...outcomeOf(0), childId, token: forged });
    const p = await liveProgress(b.handle);
    expect(p).toMatchObject({ status: 'running', running: 2, succeeded: 0, failed: 0 });

    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 8, succeeded: 8 },
    });
    // The forged report freed no slot and recorded nothing: the item's real outcome is kept.
    expect(b.target.stats()).toMatchObject({ maxInFlight: 2, requests: 8 });
    const items = await readItems(b.outputDir);
    expect(items).toHaveLength(8);
    expect(items.find((i) => i.key === key(0))!.latencyMs).toBeGreaterThanOrEqual(2_500);
    const log = await readFile(path.join(h.ctx.dir, 'worker.log'), 'utf8');
    expect(log).toContain('ignored itemCompleted signal: not sent by the child that holds the item');

    // The secret is only in the batch's own histories, never in a child's.
    const histories = await batchHistoryTexts(h.ctx.client, b.batchId);
    const holding = histories.filter((x) => x.text.includes(input.messageSecret!)).map((x) => x.workflowId);
    expect(histories.length).toBeGreaterThan(8);
    expect(holding).toEqual([b.batchId]);
  });

  it('the secret crosses continue-as-new: children of later runs get tokens derived from it', async () => {
    const target = await h.target();
    const { batchId, csv } = await h.source('continued', controlRows(30));
    const config = h.ctx.config({
      batchId,
      idColumn: 'id',
      http: { url: controlUrl(target) },
      concurrency: 3,
    });
    const b = await h.ctx.batches.start(csv, config, { continueAsNewAfterEvents: 40 });
    const first = await readBatchInput(h.ctx.batches, batchId);
    expect(await batchEnd(b.handle)).toMatchObject({ kind: 'returned', progress: { succeeded: 30 } });
    // The last run's input (readBatchInput reads the current run) holds the first run's secret.
    const last = await readBatchInput(h.ctx.batches, batchId);
    expect(last.carried).toBeDefined();
    expect(last.messageSecret).toBe(first.messageSecret);
    for (let i = 0; i < 30; i++) {
      const childId = `${batchId}/${key(i)}`;
      expect((await startInput(h.ctx.client, childId)).reportToken, childId).toBe(
        hmac(first.messageSecret!, childId),
      );
    }
    expect(target.stats()).toMatchObject({ requests: 30 });
  });

  it('a batch started from a copied input (retry-failed) gets a secret of its own', async () => {
    const b = await h.start('copied', controlRows(2), { concurrency: 2 });
    const input = await readBatchInput(h.ctx.batches, b.batchId);
    await batchEnd(b.handle);
    const copyId = `${b.batchId}-copy`;
    h.batchIds.push(copyId);
    const outputDir = path.join(h.ctx.dir, copyId);
    await mkdir(outputDir, { recursive: true });
    const handle = await h.ctx.batches.startInput(
      { ...input, batchId: copyId, outputDir },
      {
        taskQueue: b.config.taskQueue,
        memo: { source: 'copy', outputDir, total: 2 },
        summary: 'copy',
        details: [],
        audit: {},
      },
    );
    const copy = await readBatchInput(h.ctx.batches, copyId);
    expect(Buffer.from(copy.messageSecret!, 'base64url')).toHaveLength(32);
    expect(copy.messageSecret).not.toBe(input.messageSecret);
    expect(await batchEnd(handle)).toMatchObject({ kind: 'returned', progress: { succeeded: 2 } });
  });

  it('a batch started without a secret (older client) still gives tokens: the old scheme, computable', async () => {
    // Started as an older client did: the same input, no messageSecret. Its first child's token is
    // exactly what the forger of the tests above computes, so those tests fail on the old scheme.
    const b = await h.start(
      'older',
      controlRows(3, () => ({ delayMs: 300 })),
      { concurrency: 1 },
    );
    await batchEnd(b.handle);
    const { messageSecret: _secret, ...older } = await readBatchInput(h.ctx.batches, b.batchId);
    const olderId = `${b.batchId}-older`;
    h.batchIds.push(olderId);
    const outputDir = path.join(h.ctx.dir, olderId);
    await mkdir(outputDir, { recursive: true });
    const handle = await h.ctx.client.workflow.start('batchWorkflow', {
      workflowId: olderId,
      taskQueue: b.config.taskQueue,
      args: [{ ...older, batchId: olderId, outputDir } satisfies BatchInput],
      typedSearchAttributes: [{ key: batchIdKey, value: olderId }],
    });
    const child = await startInput(h.ctx.client, `${olderId}/${key(0)}`);
    expect(child.reportToken).toBe(firstUuid4(handle.firstExecutionRunId));
    expect(await batchEnd(handle)).toMatchObject({ kind: 'returned', progress: { succeeded: 3 } });
  });

  it('pages: a pageControl with 500 slots and a token computed from the run id is ignored', async () => {
    const rows = controlRows(9, (i) => ({ delayMs: i < 2 ? 2_500 : 150 }));
    const b = await h.start('pages', rows, { concurrency: 2, itemsPerChild: 3 });
    await waitFor('two items running', () => b.target.stats().inFlight === 2);
    const input = await readBatchInput(h.ctx.batches, b.batchId);
    const page0 = `${b.batchId}/page-0`;
    const page = await startInput(h.ctx.client, page0);
    expect(page.reportToken).toBe(hmac(input.messageSecret!, page0));
    expect(page).not.toHaveProperty('messageSecret');

    const { runId } = await b.handle.describe();
    const forged = firstUuid4(runId);
    await h.ctx.client.workflow
      .getHandle(page0)
      .signal('pageControl', { slots: 500, paused: false, token: forged });
    await b.handle.signal('itemsCompleted', {
      childId: page0,
      outcomes: [outcomeOf(0), outcomeOf(1)],
      unfinished: 1,
      token: forged,
    });
    const end = await batchEnd(b.handle);
    expect(end).toMatchObject({
      kind: 'returned',
      progress: { status: 'completed', total: 9, succeeded: 9 },
    });
    expect(b.target.stats()).toMatchObject({ maxInFlight: 2, requests: 9 });
    const items = await readItems(b.outputDir);
    expect(items.find((i) => i.key === key(0))!.latencyMs).toBeGreaterThanOrEqual(2_500);
    const log = await readFile(path.join(h.ctx.dir, 'worker.log'), 'utf8');
    expect(log).toContain('ignored pageControl signal: not sent by the parent of this page');
    expect(log).toContain('ignored itemsCompleted signal: not sent by a page of this batch');
  });

  it('replays every history of the batches above without nondeterminism', async () => {
    const [replayed, listed] = await h.replayAll();
    expect(listed).toBeGreaterThan(h.batchIds.length);
    expect(replayed).toBe(listed);
  });
});

// The vertical slice on a real dev server: CSV source → batch workflow → one child per item → http
// activity against a real local HTTP server that fails transiently, retried by Temporal.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetApi, type TargetApi } from '../../examples/target-api/server';
import type { BatchProgress, ItemOutcome } from '../../workflows/types';
import { createTestContext, type TestContext } from '../helpers/context';
import { patientRows, readJsonLines, writeCsv } from '../helpers/files';
import { replayWorkflows } from '../helpers/replay';
import { finalProgress, readSummary } from '../helpers/engine';
import { batchStatusKey } from '../../workflows/search-attributes';

describe('http batch through a real Temporal dev server', () => {
  let ctx: TestContext;
  let target: TargetApi;

  beforeAll(async () => {
    ctx = await createTestContext('http');
    // Every key fails its first attempt with 503: each item must be retried exactly once.
    target = await startTargetApi({
      failureRate: 0,
      rateLimitRate: 0,
      failFirstAttempts: 1,
      latencyMs: [1, 5],
    });
    await ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
    await target?.close();
  });

  it('retries transient failures and ends with exact counts', async () => {
    const rows = patientRows(40);
    const csv = await writeCsv(ctx.dir, 'patients.csv', rows);
    const config = ctx.config({
      batchId: `http-retry-${Date.now()}`,
      idColumn: 'id',
      concurrency: 8,
      http: { url: `${target.url}/patients` },
    });
    const started = await ctx.batches.start(csv, config);
    expect(started.total).toBe(40);

    const result = await finalProgress(started.handle);
    expect(result).toMatchObject({
      status: 'completed',
      total: 40,
      succeeded: 40,
      failed: 0,
      skipped: 0,
      cancelled: 0,
      running: 0,
      pending: 0,
    });

    // The target saw every key twice (one 503, one success) and registered each exactly once.
    const received = target.received();
    expect(received).toHaveLength(40);
    for (const r of received) {
      expect(r.idempotencyKey).toBe(`${started.batchId}:${r.idempotencyKey.split(':')[1]}`);
      expect(r.attempts).toBe(2);
      expect(r.effects).toBe(1);
    }

    const items = await readJsonLines<ItemOutcome>(path.join(config.outputDir!, 'results', 'items.jsonl'));
    expect(items).toHaveLength(40);
    expect(new Set(items.map((i) => i.key))).toEqual(new Set(rows.map((r) => r.id)));
    expect(items.every((i) => i.status === 'succeeded' && i.attempts === 2 && i.httpStatus === 201)).toBe(
      true,
    );

    const summary = JSON.parse(
      await readFile(path.join(config.outputDir!, 'results', 'summary.json'), 'utf8'),
    ) as BatchProgress;
    expect(summary.succeeded + summary.failed + summary.skipped + summary.cancelled).toBe(40);
    const resultsCsv = (await readFile(path.join(config.outputDir!, 'results', 'results.csv'), 'utf8'))
      .trim()
      .split('\n');
    expect(resultsCsv).toHaveLength(41);

    // Parent and every child are visible by the BatchId search attribute, as in the Web UI filter.
    const ids: string[] = [];
    for await (const wf of ctx.client.workflow.list({ query: `BatchId = "${started.batchId}"` }))
      ids.push(wf.workflowId);
    expect(ids).toHaveLength(41);
    expect(ids).toContain(started.batchId);

    expect(await replayWorkflows(ctx.client, `BatchId = "${started.batchId}"`)).toBe(41);
  });

  it('fails an item on a 4xx without retrying it', async () => {
    const rows = patientRows(5);
    const csv = await writeCsv(ctx.dir, 'bad-path.csv', rows);
    // /nowhere answers 404: a permanent error, so one attempt and the item fails.
    const config = ctx.config({
      batchId: `http-404-${Date.now()}`,
      idColumn: 'id',
      http: { url: `${target.url}/nowhere/{id}` },
    });
    const started = await ctx.batches.start(csv, config);
    const result = await finalProgress(started.handle);
    expect(result).toMatchObject({
      status: 'failed',
      statusReason: 'no item succeeded: 5 failed',
      total: 5,
      succeeded: 0,
      failed: 5,
    });
    expect(result.errorsByType).toEqual({ PermanentTargetError: 5 });
    const items = await readJsonLines<ItemOutcome>(path.join(config.outputDir!, 'results', 'items.jsonl'));
    expect(items.map((i) => i.attempts)).toEqual([1, 1, 1, 1, 1]);
    expect(items.every((i) => i.httpStatus === 404)).toBe(true);
    const failedCsv = (await readFile(path.join(config.outputDir!, 'results', 'failed.csv'), 'utf8'))
      .trim()
      .split('\n');
    expect(failedCsv[0]).toBe('id,name,_error_type,_error_message,_attempts');
    expect(failedCsv).toHaveLength(6);
    // Nothing succeeded: the batch reads failed everywhere (summary, search attribute), not partial_failure.
    expect(await readSummary(config.outputDir!)).toMatchObject({ status: 'failed', succeeded: 0, failed: 5 });
    expect((await started.handle.describe()).typedSearchAttributes.get(batchStatusKey)).toBe('failed');
  });
});

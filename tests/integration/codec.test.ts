// Payload encryption on the dev server: failures are encoded too (their message and stack become an
// encrypted payload), so an item's error (the URL with its data) is nowhere in a raw history dump,
// while the client with the key, the reports and the codec server still show it; a wrong key says
// which key id failed and what to set, in the workflow task failure and in the CLI (exit 2, no stack).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetApi } from '../../examples/target-api/server';
import { dataConverterFromEnv, loadKeyRing } from '../../src/codec';
import { AesGcmCodec } from '../../src/codec/aes-gcm';
import { startCodecServer } from '../../src/codec/server';
import { BatchClient } from '../../src/client/batch-client';
import { createLogger } from '../../src/logging/logger';
import { createBatchWorker, type BatchWorker } from '../../src/worker/worker';
import { failuresQuery } from '../../workflows/messages';
import { runCli } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import { listIds, quietTarget, readItems, waitFor } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { ALLOW_ANY } from '../../src/worker/allow-settings';
import { rawHistory } from '../helpers/history';

const KEY_ID = 'k-test';
const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('base64');
const envWith = (key: string) => ({ DURABATCH_CODEC_KEY: key, DURABATCH_CODEC_KEY_ID: KEY_ID });

async function workerWith(ctx: TestContext, key: string, name: string): Promise<BatchWorker> {
  const logger = createLogger({
    level: 'info',
    terminalLevel: 'fatal',
    file: path.join(ctx.dir, `${name}.log`),
  });
  // No prebuilt bundle: the worker builds the one for the codec (failure converter included).
  const worker = await createBatchWorker({
    connectionOptions: { address: ctx.address },
    namespace: 'default',
    taskQueue: ctx.taskQueue,
    home: ctx.home,
    logger,
    env: envWith(key),
    allow: ALLOW_ANY,
  });
  worker.run().catch((err: unknown) => console.error(`worker on ${ctx.taskQueue} failed`, err));
  return worker;
}

describe('payload encryption covers failures; a wrong key says what to set', () => {
  let ctx: TestContext;
  let target: TargetApi;
  let worker: BatchWorker;
  let batches: BatchClient;
  const canary = `CANARY-${randomBytes(6).toString('hex')}`;
  const batchId = `codec-${Date.now().toString(36)}`;
  let outputDir: string;

  beforeAll(async () => {
    ctx = await createTestContext('codec');
    target = await quietTarget();
    worker = await workerWith(ctx, keyA, 'worker');
    const client = new Client({
      connection: ctx.connection,
      namespace: 'default',
      dataConverter: dataConverterFromEnv(envWith(keyA)),
    });
    batches = new BatchClient(client, { namespace: 'default', taskQueue: ctx.taskQueue, home: ctx.home });
  }, 180_000);
  afterAll(async () => {
    await worker?.shutdown();
    await ctx?.close();
    await target?.close();
  });

  it('stores no failure message in clear; the key holder, the reports and the codec server read it', async () => {
    // The failing item's URL carries the canary: the failure message names the URL.
    const csv = await writeCsv(ctx.dir, 'codec.csv', [
      { id: 'A1', status: 422, failAttempts: 0, tag: canary },
      { id: 'A2', status: 0, failAttempts: 0, tag: 'plain' },
      // Fails its first attempt (503): that failure is kept in history as the retry's last failure.
      { id: 'A3', status: 0, failAttempts: 1, tag: canary },
    ]);
    const config = ctx.config({
      batchId,
      idColumn: 'id',
      http: { url: `${target.url}/api/items{?status,failAttempts,tag}` },
    });
    const started = await batches.start(csv, config);
    outputDir = started.outputDir;
    const progress = await started.handle.result();
    expect(progress).toMatchObject({ status: 'partial_failure', succeeded: 2, failed: 1 });

    // Through the client with the key: the failure reads in clear.
    const failures = await started.handle.query(failuresQuery);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.errorMessage).toContain(`tag=${canary}`);
    // And in the reports on disk.
    const items = await readItems(outputDir);
    expect(items.find((i) => i.key === 'A1')!.errorMessage).toContain(canary);

    // The raw histories of the batch and of both items: the canary is nowhere, failures are encoded.
    const ids = await waitFor('the batch and its items in visibility', async () => {
      const found = await listIds(batches.client, `BatchId = "${batchId}"`);
      return found.length >= 4 ? found : undefined;
    });
    const failing = `${batchId}/A1`;
    expect(ids).toContain(failing);
    // The retried item's history holds its first attempt's failure (encoded, not in clear).
    const { history: retried } = await ctx.client.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId: `${batchId}/A3` },
    });
    const lastFailure = retried!.events!.find((e) => e.activityTaskStartedEventAttributes?.lastFailure)!
      .activityTaskStartedEventAttributes!.lastFailure!;
    expect(lastFailure.message).toBe('Encoded failure');
    for (const id of ids) {
      const raw = await rawHistory(ctx.client, id);
      expect(raw.includes(canary), `canary in the raw history of ${id}`).toBe(false);
      expect(raw.includes('tag='), `the item's URL in the raw history of ${id}`).toBe(false);
    }
    const { history } = await ctx.client.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId: failing },
    });
    const activityFailure = history!.events!.find((e) => e.activityTaskFailedEventAttributes)!
      .activityTaskFailedEventAttributes!.failure!;
    expect(activityFailure.message).toBe('Encoded failure');
    const encoded = activityFailure.encodedAttributes!;

    // The codec server (the Web UI's decoder) decodes the failure's attributes.
    const server = await startCodecServer({ codec: new AesGcmCodec(loadKeyRing(envWith(keyA))!), port: 0 });
    try {
      const res = await fetch(`${server.url}/decode`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          payloads: [
            {
              metadata: Object.fromEntries(
                Object.entries(encoded.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
              ),
              data: Buffer.from(encoded.data!).toString('base64'),
            },
          ],
        }),
      });
      expect(res.status).toBe(200);
      const { payloads } = (await res.json()) as { payloads: { data: string }[] };
      const decoded = JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString('utf8')) as {
        message: string;
      };
      expect(decoded.message).toContain(`tag=${canary}`);
    } finally {
      await server.close();
    }
  }, 180_000);

  it('the CLI with a wrong key names the key id and the settings, exit 2, no stack', async () => {
    expect(outputDir).toBeDefined();
    const res = await runCli(['status', batchId], {
      env: { DURABATCH_HOME: ctx.home, TEMPORAL_ADDRESS: ctx.address, ...envWith(keyB) },
      cwd: ctx.dir,
      timeoutMs: 60_000,
    });
    expect(res.stderr).toContain(`cannot decrypt a payload encrypted with key id "${KEY_ID}"`);
    expect(res.stderr).toContain('DURABATCH_CODEC_KEY_FILE');
    expect(res.stderr).not.toContain('unexpected error');
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.code).toBe(2);
  }, 90_000);

  it('a worker with a wrong key fails the workflow task saying which key id and what to set', async () => {
    const other = await createTestContext('codec-wrong');
    const wrong = await workerWith(other, keyB, 'wrong-worker');
    try {
      const client = new Client({
        connection: other.connection,
        namespace: 'default',
        dataConverter: dataConverterFromEnv(envWith(keyA)),
      });
      const b = new BatchClient(client, {
        namespace: 'default',
        taskQueue: other.taskQueue,
        home: other.home,
      });
      const csv = await writeCsv(other.dir, 'wrong.csv', [{ id: 'W1', status: 0 }]);
      const id = `codec-wrong-${Date.now().toString(36)}`;
      const started = await b.start(
        csv,
        other.config({ batchId: id, idColumn: 'id', http: { url: `${target.url}/api/items` } }),
      );
      const failure = await waitFor(
        'a failed workflow task',
        async () => {
          const { history } = await other.client.workflowService.getWorkflowExecutionHistory({
            namespace: 'default',
            execution: { workflowId: id },
          });
          return history?.events?.find((e) => e.workflowTaskFailedEventAttributes)
            ?.workflowTaskFailedEventAttributes?.failure;
        },
        60_000,
        250,
      );
      expect(failure.message).toContain(`cannot decrypt a payload encrypted with key id "${KEY_ID}"`);
      expect(failure.message).toContain('DURABATCH_CODEC_KEY_FILE');
      await started.handle.terminate('test over');
      // The worker's own log says it too (the SDK does not log a failed workflow task).
      const log = await readFile(path.join(other.dir, 'wrong-worker.log'), 'utf8');
      expect(log).toContain('cannot decrypt payloads');
      expect(log).toContain(`key id \\"${KEY_ID}\\"`);
    } finally {
      await wrong.shutdown();
      await other.close();
    }
  }, 180_000);
});

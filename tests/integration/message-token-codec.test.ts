// With payload encryption on, the batch's message secret and its children's tokens are ciphertext in
// every raw history: a client that can read histories but has no key cannot forge a child's report
// (docs/web-ui.md). The client with the key reads the secret, and the batch runs as usual.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetApi } from '../../examples/target-api/server';
import { dataConverterFromEnv } from '../../src/codec';
import { BatchClient } from '../../src/client/batch-client';
import { readBatchInput } from '../../src/client/batch-records';
import { decodePayload } from '../../src/client/listing';
import { createLogger } from '../../src/logging/logger';
import { ALLOW_ANY } from '../../src/worker/allow-settings';
import { createBatchWorker, type BatchWorker } from '../../src/worker/worker';
import { childToken } from '../../workflows/message-token';
import { createTestContext, type TestContext } from '../helpers/context';
import { listIds, quietTarget, waitFor } from '../helpers/engine';
import { writeCsv } from '../helpers/files';
import { rawHistory } from '../helpers/history';

const env = { DURABATCH_CODEC_KEY: randomBytes(32).toString('base64'), DURABATCH_CODEC_KEY_ID: 'k-token' };

describe('message tokens with payload encryption', () => {
  let ctx: TestContext;
  let target: TargetApi;
  let worker: BatchWorker;
  let batches: BatchClient;

  beforeAll(async () => {
    ctx = await createTestContext('message-token-codec');
    target = await quietTarget();
    // No prebuilt bundle: the worker builds the one for the codec.
    worker = await createBatchWorker({
      connectionOptions: { address: ctx.address },
      namespace: 'default',
      taskQueue: ctx.taskQueue,
      home: ctx.home,
      logger: createLogger({ level: 'info', terminalLevel: 'fatal', file: path.join(ctx.dir, 'worker.log') }),
      env,
      allow: ALLOW_ANY,
    });
    worker.run().catch((err: unknown) => console.error(`worker on ${ctx.taskQueue} failed`, err));
    const client = new Client({
      connection: ctx.connection,
      namespace: 'default',
      dataConverter: dataConverterFromEnv(env),
    });
    batches = new BatchClient(client, { namespace: 'default', taskQueue: ctx.taskQueue, home: ctx.home });
  }, 180_000);
  afterAll(async () => {
    await worker?.shutdown();
    await ctx?.close();
    await target?.close();
  });

  it('the secret and every child token are nowhere in clear in the raw histories', async () => {
    const batchId = `token-codec-${Date.now().toString(36)}`;
    const keys = ['T1', 'T2', 'T3'];
    const csv = await writeCsv(
      ctx.dir,
      'tokens.csv',
      keys.map((id) => ({ id })),
    );
    const started = await batches.start(
      csv,
      ctx.config({ batchId, idColumn: 'id', http: { url: `${target.url}/api/items` }, concurrency: 2 }),
    );
    expect(await started.handle.result()).toMatchObject({ status: 'completed', succeeded: 3 });

    // The client with the key reads the secret from the batch's input.
    const { messageSecret } = await readBatchInput(batches, batchId);
    expect(Buffer.from(messageSecret!, 'base64url')).toHaveLength(32);
    const secrets = [messageSecret!, ...keys.map((k) => childToken(messageSecret!, `${batchId}/${k}`))];
    const ids = await waitFor('the batch and its items in visibility', async () => {
      const found = await listIds(batches.client, `BatchId = "${batchId}"`);
      return found.length >= 4 ? found : undefined;
    });
    expect(ids.sort()).toEqual([batchId, ...keys.map((k) => `${batchId}/${k}`)].sort());
    for (const id of ids) {
      const raw = await rawHistory(ctx.client, id);
      for (const s of secrets) expect(raw.includes(s), `${s} in the raw history of ${id}`).toBe(false);
    }
    // The check can fail: through the key holder's client, each child's input holds its token.
    const child = await batches.client.workflow.getHandle(`${batchId}/T1`).fetchHistory();
    const attrs = child.events![0]!.workflowExecutionStartedEventAttributes!;
    const input = (await decodePayload(batches.client, attrs.input!.payloads![0])) as {
      reportToken?: string;
    };
    expect(input.reportToken).toBe(secrets[1]);
  }, 180_000);
});

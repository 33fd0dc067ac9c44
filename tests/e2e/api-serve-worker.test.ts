// `durabatch serve --worker`: the service's own worker runs the batches its clients start with a
// preset, and nothing else: a batch started past the service on the same task queue, calling an
// origin no preset names, fails every item as ProcessorNotAllowed and the origin receives nothing.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServeProcess } from '../helpers/serve-process';
import type { TargetApi } from '../../examples/target-api/server';
import { BatchClient } from '../../src/client/batch-client';
import { Config } from '../../src/config/schema';
import type { BatchProgress } from '../../workflows/types';
import { quietTarget } from '../helpers/engine';

describe('serve --worker runs the presets, and only them', () => {
  const address = inject('temporalAddress');
  const taskQueue = `api-serve-worker-${Date.now().toString(36)}`;
  let dir: string;
  let allowed: TargetApi;
  let other: TargetApi;
  let service: { child: ChildProcess; url: string };
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(inject('tmpRoot'), 'api-serve-worker-'));
    allowed = await quietTarget();
    other = await quietTarget();
    const config = path.join(dir, 'service.json');
    await writeFile(
      config,
      JSON.stringify({
        taskQueue,
        api: {
          outputRoot: path.join(dir, 'output'),
          presets: { items: { processor: 'http', http: { url: `${allowed.url}/api/items` } } },
        },
      }),
    );
    service = await startServeProcess(['--config', config, '--worker'], {
      DURABATCH_HOME: path.join(dir, 'home'),
      TEMPORAL_ADDRESS: address,
    });
    connection = await Connection.connect({ address });
    client = new Client({ connection, namespace: 'default' });
  });
  afterAll(async () => {
    service?.child.kill('SIGTERM');
    await connection?.close();
    await allowed?.close();
    await other?.close();
  });

  it('runs a batch started through the API to the end', async () => {
    const batchId = `served-${taskQueue}`;
    const res = await fetch(`${service.url}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ preset: 'items', batchId, items: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const final = (await client.workflow.getHandle(batchId).result()) as BatchProgress;
    expect(final).toMatchObject({ status: 'completed', total: 3, succeeded: 3 });
    expect(allowed.stats().effects).toBe(3);
  });

  it('refuses a batch that names an origin no preset allows', async () => {
    const home = path.join(dir, 'home');
    const batches = new BatchClient(client, { namespace: 'default', taskQueue, home });
    const batchId = `forged-${taskQueue}`;
    const csv = path.join(dir, 'forged.csv');
    await writeFile(csv, 'id\nx1\nx2\n');
    const started = await batches.start(
      csv,
      Config.parse({
        batchId,
        taskQueue,
        home,
        maxAttempts: 1,
        outputDir: path.join(dir, 'output', batchId),
        http: { url: `${other.url}/api/items` },
      }),
    );
    const final = await started.handle.result();
    expect(final).toMatchObject({ total: 2, failed: 2, errorsByType: { ProcessorNotAllowed: 2 } });
    expect(other.stats().requests).toBe(0);
  });
});

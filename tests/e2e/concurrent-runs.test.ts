// Two different `run`s at once on one server, neither naming a task queue. Each in-process worker
// allows only its own batch's processors (a forged batch must not borrow them), so on one shared
// queue each worker would take some of the other's items and refuse them (ProcessorNotAllowed,
// not retried). Each run's batch therefore gets a queue of its own: both batches end with every item
// sent once.
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TargetApi } from '../../examples/target-api/server';
import { DEFAULT_TASK_QUEUE } from '../../src/home/defaults';
import { runCli } from '../helpers/cli';
import { quietTarget, receivedFor } from '../helpers/engine';
import { writeCsv } from '../helpers/files';

const ITEMS = 12;

describe('run: two different commands at once', () => {
  const stamp = Date.now().toString(36);
  const address = inject('temporalAddress');
  let dir: string;
  let target: TargetApi;
  let client: Client;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(inject('tmpRoot'), 'concurrent-runs-'));
    target = await quietTarget();
    client = new Client({ connection: await Connection.connect({ address }), namespace: 'default' });
  });
  afterAll(async () => {
    await client?.connection.close();
    await target?.close();
  });

  it('each batch gets its own task queue and every item of both is sent once', async () => {
    const run = async (name: string) => {
      const rows = Array.from({ length: ITEMS }, (_, i) => ({ id: `${name}${i + 1}`, name: `N ${i}` }));
      const csv = await writeCsv(dir, `${name}-${stamp}.csv`, rows);
      const batchId = `conc-${name}-${stamp}`;
      // Different headers: different processors, which the other run's worker does not allow.
      const res = await runCli(
        [
          ...['run', csv, '--url', `${target.url}/patients`, '--id-column', 'id'],
          ...['--header', `X-Run: ${name}`, '--concurrency', '4', '--batch-id', batchId],
          ...['--output-dir', path.join(dir, batchId)],
        ],
        {
          env: { DURABATCH_HOME: path.join(dir, 'home'), TEMPORAL_ADDRESS: address },
          cwd: dir,
          timeoutMs: 120_000,
        },
      );
      return { batchId, res, keys: rows.map((r) => r.id) };
    };
    const [a, b] = await Promise.all([run('a'), run('b')]);
    for (const { batchId, res, keys } of [a, b]) {
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toContain(`batch ${batchId} completed`);
      expect(res.stderr).toContain(`total ${ITEMS} = succeeded ${ITEMS} + failed 0`);
      const got = receivedFor(target, batchId);
      expect([...got.keys()].sort()).toEqual([...keys].sort());
      for (const [, r] of got) expect(r.effects).toBe(1);
      const desc = await client.workflow.getHandle(batchId).describe();
      expect(desc.taskQueue).toBe(`${DEFAULT_TASK_QUEUE}-run-${batchId}`);
    }
  });
});

// Certificate files are checked before a batch starts: a missing client certificate, key or CA was
// found only by the first item (after the batch had started, every item then failing). `plan`,
// `start`, `run` and `retry-failed` refuse with exit 2, naming the setting, the flag and the path,
// and start nothing: no workflow on the server, no request at the target.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetApi } from '../../examples/target-api/server';
import { runCli } from '../helpers/cli';
import { createTestContext, type TestContext } from '../helpers/context';
import { listIds, quietTarget } from '../helpers/engine';
import { patientRows, writeCsv } from '../helpers/files';

describe('certificate files are checked by plan, start, run and retry-failed', () => {
  let ctx: TestContext;
  let target: TargetApi;
  let csv: string;
  let cert: string;
  let key: string;
  const stamp = Date.now().toString(36);
  const taskQueue = () => `tls-files-${stamp}`;

  const durabatch = (args: string[]) =>
    runCli(args, {
      env: { DURABATCH_HOME: path.join(ctx.dir, 'home'), TEMPORAL_ADDRESS: ctx.address },
      cwd: ctx.dir,
    });
  const batchesOnQueue = () =>
    listIds(ctx.client, `WorkflowType = "batchWorkflow" AND TaskQueue = "${taskQueue()}"`);
  const common = () => [
    csv,
    '--url',
    `${target.url}/patients`,
    '--id-column',
    'id',
    '--task-queue',
    taskQueue(),
  ];

  beforeAll(async () => {
    ctx = await createTestContext('tls-files');
    target = await quietTarget();
    csv = await writeCsv(ctx.dir, 'tls.csv', patientRows(3));
    cert = path.join(ctx.dir, 'client.pem');
    key = path.join(ctx.dir, 'client.key');
    await writeFile(key, '-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n');
  });
  afterAll(async () => {
    await target?.close();
    await ctx?.close();
  });

  const missingCert = () =>
    `http.clientCert (--client-cert): cannot read the client certificate ${cert} on this machine (where the CLI runs): no such file`;

  it.each(['run', 'start', 'plan'])(
    '%s: a missing --client-cert is exit 2 naming the setting and path',
    async (cmd) => {
      const res = await durabatch([cmd, ...common(), '--client-cert', cert, '--client-key', key]);
      expect(res.code, res.stderr).toBe(2);
      // plan prints its findings (stdout), the others their refusal (stderr).
      const out = cmd === 'plan' ? res.stdout : res.stderr;
      expect(out).toContain(missingCert());
      expect(out).toContain('workers read the same path');
      expect(await batchesOnQueue()).toEqual([]);
      expect(target.stats().requests).toBe(0);
    },
  );

  it('a CA that is a directory, and every bad file of a pipeline, are named together', async () => {
    const caDir = path.join(ctx.dir, 'ca-dir');
    await mkdir(caDir, { recursive: true });
    const config = path.join(ctx.dir, 'pipeline.json');
    await writeFile(
      config,
      JSON.stringify({
        steps: [
          { name: 'register', processor: 'http', http: { url: `${target.url}/patients`, ca: caDir } },
          {
            name: 'submit',
            processor: 'http',
            http: {
              url: `${target.url}/patients`,
              clientCert: cert,
              clientKey: path.join(ctx.dir, 'nope.key'),
            },
          },
        ],
      }),
    );
    const res = await durabatch([
      'start',
      csv,
      '--config',
      config,
      '--id-column',
      'id',
      '--task-queue',
      taskQueue(),
    ]);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain(
      `step "register" http.ca (--target-ca): cannot read the target's CA certificate ${caDir} on this machine (where the CLI runs): it is a directory`,
    );
    expect(res.stderr).toContain(`step "submit" ${missingCert()}`);
    expect(res.stderr).toContain(
      `step "submit" http.clientKey (--client-key): cannot read the client key ${path.join(ctx.dir, 'nope.key')}`,
    );
    expect(await batchesOnQueue()).toEqual([]);
    expect(target.stats().requests).toBe(0);
  });

  it("retry-failed: the old batch's certificate, gone since, is refused before the new batch starts", async () => {
    await writeFile(cert, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    const oldId = `tls-old-${stamp}`;
    // Every item fails at once (nothing listens on port 9); the batch records the certificate paths.
    const first = await durabatch([
      'run',
      csv,
      '--url',
      'http://127.0.0.1:9/x',
      '--id-column',
      'id',
      '--task-queue',
      taskQueue(),
      '--batch-id',
      oldId,
      '--max-attempts',
      '1',
      '--client-cert',
      cert,
      '--client-key',
      key,
    ]);
    expect(first.code, first.stderr).toBe(1);
    expect(await batchesOnQueue()).toEqual([oldId]);
    await rm(cert);
    const res = await durabatch(['retry-failed', oldId, '--batch-id', `${oldId}-retry`]);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain(missingCert());
    expect(await batchesOnQueue()).toEqual([oldId]);
  });
});

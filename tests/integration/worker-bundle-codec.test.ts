// With payload encryption on, a worker given a prebuilt workflow bundle must get one built with the
// failure converter: workflow code turns its errors into failures inside the bundle, and a plain
// bundle would store them in clear. A plain bundle is refused before the worker connects; the
// bundle the worker builds for the codec (workflowBundlePath with the converter) is accepted.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { encodedFailuresPath } from '../../src/codec';
import { InputError } from '../../src/errors';
import { createLogger } from '../../src/logging/logger';
import { ALLOW_ANY } from '../../src/worker/allow-settings';
import { bundleEncodesFailures, workflowBundlePath } from '../../src/worker/bundle';
import { createBatchWorker, type BatchWorker } from '../../src/worker/worker';
import { createTestContext, type TestContext } from '../helpers/context';
import { waitFor } from '../helpers/engine';
import { rejection } from '../helpers/rejection';

describe('a prebuilt workflow bundle with the payload codec on', () => {
  let ctx: TestContext;
  let worker: BatchWorker | undefined;
  const env = { DURABATCH_CODEC_KEY: randomBytes(32).toString('base64'), DURABATCH_CODEC_KEY_ID: 'k1' };

  beforeAll(async () => {
    ctx = await createTestContext('bundle-codec');
  });
  afterAll(async () => {
    await worker?.shutdown();
    await ctx?.close();
  });

  const start = (codePath: string) =>
    createBatchWorker({
      connectionOptions: { address: ctx.address },
      namespace: 'default',
      taskQueue: ctx.taskQueue,
      home: ctx.home,
      logger: createLogger({ level: 'info', terminalLevel: 'fatal', file: path.join(ctx.dir, 'w.log') }),
      workflowBundlePath: codePath,
      env,
      allow: ALLOW_ANY,
    });

  it('refuses a bundle built without the failure converter, saying what to do', async () => {
    const plain = inject('workflowBundlePath');
    expect(await bundleEncodesFailures(plain)).toBe(false);
    const err = await rejection(start(plain), InputError);
    expect(err.message).toContain(`the workflow bundle ${plain} was built without the failure converter`);
    expect(err.message).toContain('stored in clear in history');
    expect(err.message).toContain('fix: leave workflowBundlePath unset');
    expect(err.message).toContain(encodedFailuresPath());
  });

  it('accepts the bundle built with it', async () => {
    const codePath = await workflowBundlePath(ctx.home, undefined, encodedFailuresPath());
    expect(await bundleEncodesFailures(codePath)).toBe(true);
    worker = await start(codePath);
    // It polls: the bundle loaded with the codec's data converter.
    void worker.run().catch(() => undefined);
    await waitFor('the worker running', () => worker?.worker.getState() === 'RUNNING' || undefined);
    expect(worker.worker.getState()).toBe('RUNNING');
  });
});

// Starts a batch workflow directly with a hand-built BatchInput, for engine options that BatchClient
// does not expose (e.g. continueAsNewAfterEvents). Mirrors BatchClient.start.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { processorSpec } from '../../src/client/batch-client';
import type { Config } from '../../src/config/schema';
import { NON_RETRYABLE_ERROR_TYPES } from '../../src/errors';
import { stageSource } from '../../src/source/stage';
import type { BatchInput } from '../../workflows/batch';
import { batchIdKey, batchProgressKey, batchStatusKey } from '../../workflows/search-attributes';
import type { TestContext } from './context';

export type EngineOptions = Pick<
  BatchInput,
  'pageSize' | 'continueAsNewAfterEvents' | 'resultsPageSize' | 'cancelGraceMs'
>;

export async function startBatchDirect(
  ctx: TestContext,
  csv: string,
  config: Config,
  engine: EngineOptions,
): Promise<{ batchId: string; handle: WorkflowHandle; total: number; outputDir: string }> {
  const batchId = config.batchId ?? `direct-${Date.now()}`;
  const staged = await stageSource(csv, {
    home: ctx.home,
    idColumn: config.idColumn,
    delimiter: config.delimiter,
  });
  const outputDir = path.resolve(config.outputDir ?? path.join(ctx.dir, 'output', batchId));
  await mkdir(outputDir, { recursive: true });
  const input: BatchInput = {
    batchId,
    source: staged,
    processor: processorSpec(config),
    limits: { concurrency: config.concurrency, rate: config.rate },
    retry: {
      maxAttempts: config.maxAttempts,
      initialIntervalMs: config.initialIntervalMs,
      maxIntervalMs: config.maxIntervalMs,
      backoffCoefficient: config.backoffCoefficient,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
    failurePolicy: {
      failFast: config.failFast,
      maxFailures: config.maxFailures,
      maxFailureRate: config.maxFailureRate,
    },
    outputDir,
    ...engine,
  };
  const handle = await ctx.client.workflow.start('batchWorkflow', {
    workflowId: batchId,
    taskQueue: ctx.taskQueue,
    args: [input],
    typedSearchAttributes: [
      { key: batchIdKey, value: batchId },
      { key: batchStatusKey, value: 'running' },
      { key: batchProgressKey, value: 0 },
    ],
    memo: { source: staged.originalPath, outputDir, total: staged.total },
  });
  return { batchId, handle, total: staged.total, outputDir };
}

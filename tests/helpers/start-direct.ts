// Starts a batch with engine options that the CLI does not expose (e.g. continueAsNewAfterEvents).
import type { WorkflowHandle } from '@temporalio/client';
import type { EngineOptions } from '../../src/client/batch-client';
import type { Config } from '../../src/config/schema';
import type { TestContext } from './context';

export type { EngineOptions };

export async function startBatchDirect(
  ctx: TestContext,
  csv: string,
  config: Config,
  engine: EngineOptions,
): Promise<{ batchId: string; handle: WorkflowHandle; total: number; outputDir: string }> {
  const started = await ctx.batches.start(csv, config, engine);
  return {
    batchId: started.batchId,
    handle: started.handle,
    total: started.total,
    outputDir: started.outputDir,
  };
}

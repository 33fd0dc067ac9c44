// durabatch's public API: the typed client for programs, and the types module processors use.
export {
  BatchClient,
  defaultBatchId,
  type BatchClientOptions,
  type StartedBatch,
} from './client/batch-client';
export { BatchStalledError, type BatchStall } from './client/batch-health';
export { Config, type ConfigInput } from './config/schema';
export { loadConfig } from './config/load';
export { openEnvironment, type Environment } from './server/environment';
export { createBatchWorker } from './worker/worker';
// A worker's allow-list (createBatchWorker's `allow`): what it runs, whoever started the batch.
export {
  ALLOW_ANY,
  ALLOW_NONE,
  allowListOf,
  allowListForWorker,
  defaultStorageRoots,
  type ProcessorAllowList,
} from './worker/allow-settings';
export { DEFAULT_TASK_QUEUE } from './home/defaults';
export { NonRetryableError, type ProcessContext, type ProcessFunction } from './sdk';
export type { BatchProgress, ItemOutcome, BatchStatus, FailureRecord } from '../workflows/types';

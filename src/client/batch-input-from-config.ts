// The batch workflow's input from the settings: which of them the workflow carries, and in what
// shape (retry policy, failure policy, limits, cost, mode).
import type { BatchInput } from '../../workflows/batch';
import type { StagedSourceRef, StepSpec } from '../../workflows/types';
import type { Config } from '../config/schema';
import { NON_RETRYABLE_ERROR_TYPES } from '../errors';
import { autoItemsPerChild } from './modes';

export function batchInputFromConfig(
  config: Config,
  batch: { batchId: string; source: StagedSourceRef; steps: StepSpec[]; outputDir: string },
): BatchInput {
  return {
    ...batch,
    limits: { concurrency: config.concurrency, rate: config.rate, budget: config.budget },
    retry: {
      maxAttempts: config.maxAttempts,
      initialIntervalMs: config.initialIntervalMs,
      maxIntervalMs: config.maxIntervalMs,
      backoffCoefficient: config.backoffCoefficient,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      stopGraceMs: config.stopGraceMs,
    },
    failurePolicy: {
      failFast: config.failFast,
      maxFailures: config.maxFailures,
      maxFailureRate: config.maxFailureRate,
    },
    resultsWorkbook: { enabled: config.resultsWorkbook, sheet: config.sheet },
    csvFormulas: config.csvFormulas,
    itemsPerChild:
      config.itemsPerChild === 'auto'
        ? autoItemsPerChild(batch.source.total, config.itemExecution)
        : config.itemsPerChild,
    itemExecution: config.itemExecution,
    cost:
      config.costPerItem !== undefined || config.costField
        ? { perItem: config.costPerItem, field: config.costField }
        : undefined,
  };
}

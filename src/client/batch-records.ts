// What Temporal keeps of a batch that durabatch reads back: the memo written at its start, its
// description, and the input its current run started with. Read here only, so every command finds
// a batch's output directory and settings the same way (and decodes them through the same codecs).
import { WorkflowNotFoundError, type WorkflowExecutionDescription } from '@temporalio/client';
import type { BatchInput } from '../../workflows/batch';
import { InputError } from '../errors';
import type { BatchClient } from './batch-client';
import { decodePayload } from './listing';

/** The memo every batch starts with (BatchClient.startInput); `durabatch list` shows it. */
export type BatchMemo = {
  source: string;
  outputDir: string;
  total: number;
  /** On a retry-failed batch: the batch whose failed items it runs. */
  retryOf?: string;
  /** Started through the batch service (`durabatch serve`). */
  api?: boolean;
  /** The service's client's label for the batch (`GET /v1/batches?label=`). */
  label?: string;
  /** Service batches: a hash of the start request, so a retried Idempotency-Key finds the same request. */
  request?: string;
};

/** The output directory a batch's memo names; undefined for a workflow durabatch did not start. */
export function memoOutputDir(description: Pick<WorkflowExecutionDescription, 'memo'>): string | undefined {
  const outputDir = (description.memo as Partial<BatchMemo> | undefined)?.outputDir;
  return typeof outputDir === 'string' ? outputDir : undefined;
}

/** The batch's description; an unknown id is an input error. */
export async function describeBatch(
  client: BatchClient,
  batchId: string,
): Promise<WorkflowExecutionDescription> {
  try {
    return await client.handle(batchId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new InputError(`no batch with id "${batchId}"`, 'see `durabatch list`');
    throw err;
  }
}

/** The output directory of a batch described by describeBatch; none means it is not a durabatch batch. */
export function requireOutputDir(batchId: string, description: WorkflowExecutionDescription): string {
  const outputDir = memoOutputDir(description);
  if (outputDir === undefined) {
    throw new InputError(
      `"${batchId}" has no output directory in its memo: it is not a durabatch batch`,
      'see `durabatch list`',
    );
  }
  return outputDir;
}

/**
 * The input the batch's current run started with: one history event, whatever the history's
 * length, decoded as the client decodes every payload (through its codecs, e.g. encryption).
 */
export async function readBatchInput(client: BatchClient, batchId: string): Promise<BatchInput> {
  const res = await client.client.workflowService.getWorkflowExecutionHistory({
    namespace: client.opts.namespace,
    execution: { workflowId: batchId },
    maximumPageSize: 1,
  });
  const payload = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const input = (await decodePayload(client.client, payload)) as BatchInput | undefined;
  if (!input?.source?.dir || !Array.isArray(input.steps)) {
    throw new InputError(
      `"${batchId}" was not started by durabatch (no batch input in its history)`,
      'see `durabatch list`',
    );
  }
  return input;
}

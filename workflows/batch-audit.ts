// Writing the batch's queued audit entries (see BatchState.audit). One activity per flush; the
// activity finds each sender's identity in this workflow's history, so entries name whoever sent
// the message: the durabatch CLI, the Web UI, the temporal CLI or any SDK client.
import { log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { bookkeeping } from './activity-options';
import type { BatchState } from './batch-state';
import type { AuditDraft } from './types';

export interface RecordAuditInput {
  outputDir: string;
  batchId: string;
  workflowId: string;
  runId: string;
  entries: AuditDraft[];
}

// Bounded: the audit log must never hold up the batch (an unwritable output folder, say).
const { recordAudit } = proxyActivities<ReturnType<typeof createActivities>>(
  bookkeeping({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 5, maximumInterval: '10 seconds' },
  }),
);

export async function flushAuditQueue(state: BatchState, outputDir: string): Promise<void> {
  if (state.auditQueue.length === 0) return;
  const entries = state.auditQueue.slice();
  const { workflowId, runId } = workflowInfo();
  try {
    await recordAudit({ outputDir, batchId: state.batchId, workflowId, runId, entries });
  } catch (err) {
    log.warn('could not write audit entries; they are dropped', {
      batchId: state.batchId,
      actions: entries.map((e) => e.action),
      error: String(err),
    });
  }
  // Entries queued while the activity ran stay queued.
  state.auditWritten(entries.length);
}

// Writes the batch workflow's audit entries to audit/audit.jsonl. Who sent each message is not in
// the message: every Temporal client (durabatch CLI, Web UI, temporal CLI, SDKs) records its identity
// on the history event of its signal, update or cancel request, so it is read from there.
import { Context } from '@temporalio/activity';
import proto from '@temporalio/proto';
import { appendAuditLines, readAuditLines } from '../../src/audit/audit-log';
import type { RecordAuditInput } from '../../workflows/batch-audit';
import type { AuditDraft } from '../../workflows/types';

// CommonJS: its namespaces are reached through the default export under ESM.
const EventType = proto.temporal.api.enums.v1.EventType;
/** A sender that left no identity: the Web UI does so unless its server has a login. */
export const NO_IDENTITY = 'a client that sent no identity (the Web UI without login)';
/** Events read back from the end of history to find senders: far more than one flush needs. */
const MAX_EVENTS = 2_000;

interface Senders {
  /** Signal name → identities, newest first. */
  signals: Map<string, string[]>;
  updates: Map<string, string>;
  cancels: string[];
}

async function readSenders(input: RecordAuditInput): Promise<Senders> {
  const ctx = Context.current();
  const senders: Senders = { signals: new Map(), updates: new Map(), cancels: [] };
  let nextPageToken: Uint8Array | undefined;
  let read = 0;
  do {
    const page = await ctx.client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: ctx.info.workflowNamespace,
      execution: { workflowId: input.workflowId, runId: input.runId },
      maximumPageSize: 500,
      nextPageToken,
    });
    for (const e of page.history?.events ?? []) {
      read += 1;
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) {
        const a = e.workflowExecutionSignaledEventAttributes;
        const list = senders.signals.get(a?.signalName ?? '') ?? [];
        list.push(a?.identity ?? '');
        senders.signals.set(a?.signalName ?? '', list);
      } else if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) {
        const meta = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta;
        if (meta?.updateId) senders.updates.set(meta.updateId, meta.identity ?? '');
      } else if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED) {
        senders.cancels.push(e.workflowExecutionCancelRequestedEventAttributes?.identity ?? '');
      }
    }
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken && read < MAX_EVENTS);
  return senders;
}

/** The identity of each entry's sender; signals of one name are matched newest to newest. */
function identities(entries: AuditDraft[], senders: Senders): (string | undefined)[] {
  const used = new Map<string, number>();
  const result: (string | undefined)[] = entries.map(() => undefined);
  for (let i = entries.length - 1; i >= 0; i--) {
    const s = entries[i]!.sender;
    if (!s) continue;
    if (s.kind === 'update') result[i] = senders.updates.get(s.updateId);
    else if (s.kind === 'cancel') result[i] = senders.cancels[0];
    else {
      const n = used.get(s.name) ?? 0;
      used.set(s.name, n + 1);
      result[i] = senders.signals.get(s.name)?.[n];
    }
  }
  return result;
}

export async function recordAudit(input: RecordAuditInput): Promise<void> {
  // A retried activity must not write an entry twice.
  const written = new Set(
    (await readAuditLines(input.outputDir))
      .filter((l) => l.batchId === input.batchId && typeof l.seq === 'number')
      .map((l) => l.seq),
  );
  const entries = input.entries.filter((e) => !written.has(e.seq));
  if (entries.length === 0) return;
  const who = entries.some((e) => e.sender) ? identities(entries, await readSenders(input)) : [];
  await appendAuditLines(
    input.outputDir,
    entries.map((e, i) => ({
      at: e.at,
      action: e.action,
      batchId: input.batchId,
      ...(e.args ? { args: e.args } : {}),
      // The batch itself (budget, worker, source), or the identity of the client that sent the message.
      by: e.by ?? (who[i] || NO_IDENTITY),
      seq: e.seq,
    })),
  );
}

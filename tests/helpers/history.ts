// Reading workflow histories as text and as decoded activity results, for assertions about what
// went through Temporal (and what must never have).
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
const isBufferJson = (v: unknown): v is { type: 'Buffer'; data: number[] } =>
  typeof v === 'object' &&
  v !== null &&
  (v as { type?: unknown }).type === 'Buffer' &&
  Array.isArray((v as { data?: unknown }).data);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * A history as searchable JSON text, with every payload's bytes decoded as UTF-8 (JSON payloads
 * become their JSON text). Protobuf messages serialise bytes as base64 strings (payload `data`),
 * plain objects as Uint8Array/Buffer: all three forms are decoded.
 */
export function historyText(history: unknown): string {
  return JSON.stringify(history, (key, value: unknown) => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    if (isBufferJson(value)) return Buffer.from(value.data).toString('utf8');
    if (key === 'data' && typeof value === 'string' && BASE64.test(value)) {
      return Buffer.from(value, 'base64').toString('utf8');
    }
    return value;
  });
}

/** The text of every workflow history of a batch (parent runs and item children), by workflow id. */
export async function batchHistoryTexts(
  client: Client,
  batchId: string,
): Promise<{ workflowId: string; text: string }[]> {
  const out: { workflowId: string; text: string }[] = [];
  for await (const { workflowId, history } of client.workflow
    .list({ query: `BatchId = "${batchId}"` })
    .intoHistories()) {
    out.push({ workflowId, text: historyText(history) });
  }
  return out;
}

export function decodePayload<T>(payload: Payload | null | undefined): T {
  return defaultPayloadConverter.fromPayload<T>(payload as Payload);
}

/** The decoded results of the completed activities of one workflow, in history order. */
export async function activityResults<T>(client: Client, workflowId: string): Promise<T[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0])
    .filter((p) => p !== undefined && p !== null)
    .map((p) => decodePayload<T>(p));
}

/** The raw bytes of a workflow's whole history, as the server stores it (no codec applied). */
export async function rawHistory(client: Client, workflowId: string): Promise<Buffer> {
  const events = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId },
      nextPageToken,
    });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return Buffer.from(proto.temporal.api.history.v1.History.encode({ events }).finish());
}

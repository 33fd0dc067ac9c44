// `durabatch list`: one page of batches from Temporal visibility, newest first. It reads one page per
// call (never the whole namespace), so it stays fast with thousands of batches, and it hands back the
// server's own page token so a later call continues exactly where this one stopped.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto, { type google, type temporal } from '@temporalio/proto';
import { InputError } from '../errors';
import { buildListQuery, type ListBatchesOptions } from './list-query';

export interface BatchListEntry {
  batchId: string;
  status: string;
  /** The workflow execution's status (RUNNING, COMPLETED, FAILED, ...). */
  workflowStatus: string;
  percent: number | null;
  total: number | null;
  source: string | null;
  outputDir: string | null;
  retryOf: string | null;
  /** The label a service client gave the batch (memo `label`); null for batches without one. */
  label: string | null;
  startedAt: string;
  endedAt: string | null;
  durationMs: number;
  /** From results/summary.json once the batch wrote its report; null before (or if unreadable here). */
  throughputPerMinute: number | null;
  succeeded: number | null;
  failed: number | null;
}

export interface BatchListPage {
  batches: BatchListEntry[];
  /** Pass to `--page-token` for the next page; null on the last page. */
  nextPageToken: string | null;
  /** Executions read from Temporal for this page (more than `batches` when --source filtered some out). */
  scanned: number;
  query: string;
}

// @temporalio/proto is CommonJS: its namespaces are reached through the default export under ESM.
const WorkflowStatus = proto.temporal.api.enums.v1.WorkflowExecutionStatus;

function toDate(ts: google.protobuf.ITimestamp | null | undefined): Date | undefined {
  if (!ts?.seconds && !ts?.nanos) return undefined;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : (ts.seconds?.toNumber() ?? 0);
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
}

/** Decodes a payload the way the client would: its codecs (if any) in reverse, then its converter. */
export async function decodePayload(client: Client, payload: Payload | null | undefined): Promise<unknown> {
  if (!payload) return undefined;
  const { payloadConverter, payloadCodecs } = client.options.loadedDataConverter;
  let payloads: Payload[] = [payload];
  for (const codec of [...payloadCodecs].reverse()) payloads = await codec.decode(payloads);
  return payloads[0] ? payloadConverter.fromPayload(payloads[0]) : undefined;
}

/** Search attribute values are plain JSON payloads, never passed through codecs. */
function attribute(fields: Record<string, Payload> | null | undefined, name: string): unknown {
  const p = fields?.[name];
  if (!p) return undefined;
  const v: unknown = defaultPayloadConverter.fromPayload(p);
  return Array.isArray(v) ? v[0] : v;
}

function displayStatus(
  workflowStatus: temporal.api.enums.v1.WorkflowExecutionStatus,
  batchStatus: unknown,
): string {
  const own = typeof batchStatus === 'string' ? batchStatus : undefined;
  switch (workflowStatus) {
    case WorkflowStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
      return own ?? 'running';
    case WorkflowStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED:
      // A batch whose every item failed returns normally too (only a policy breach fails the
      // workflow), with its own word `failed`.
      return own === 'completed' || own === 'partial_failure' || own === 'failed' ? own : 'completed';
    case WorkflowStatus.WORKFLOW_EXECUTION_STATUS_FAILED:
      return 'failed';
    case WorkflowStatus.WORKFLOW_EXECUTION_STATUS_CANCELED:
      return 'cancelled';
    case WorkflowStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED:
      return 'terminated';
    case WorkflowStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
      return 'timed_out';
    default:
      return own ?? 'unknown';
  }
}

function workflowStatusName(code: temporal.api.enums.v1.WorkflowExecutionStatus): string {
  const name: string | undefined = WorkflowStatus[code];
  return name ? name.replace('WORKFLOW_EXECUTION_STATUS_', '') : 'UNKNOWN';
}

interface SummaryFacts {
  throughputPerMinute?: number;
  succeeded?: number;
  failed?: number;
  startedAt?: string;
  endedAt?: string | null;
}

async function readSummary(outputDir: string | null): Promise<SummaryFacts | undefined> {
  if (!outputDir) return undefined;
  // The output directory may live on another machine than this CLI: then there is simply no figure.
  const text = await readFile(path.join(outputDir, 'results', 'summary.json'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as SummaryFacts;
  } catch {
    return undefined;
  }
}

async function toEntry(
  client: Client,
  raw: temporal.api.workflow.v1.IWorkflowExecutionInfo,
  now: Date,
): Promise<BatchListEntry> {
  const memoFields = raw.memo?.fields ?? {};
  const memo = async (name: string) => decodePayload(client, memoFields[name]).catch(() => undefined);
  const [source, outputDir, total, retryOf, label] = await Promise.all([
    memo('source'),
    memo('outputDir'),
    memo('total'),
    memo('retryOf'),
    memo('label'),
  ]);
  const attrs = raw.searchAttributes?.indexedFields;
  const code = raw.status ?? WorkflowStatus.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  const out = str(outputDir);
  const summary = await readSummary(out);
  // After a continue-as-new the execution's start is the current run's; the report knows the batch's.
  const started =
    (summary?.startedAt ? new Date(summary.startedAt) : undefined) ?? toDate(raw.startTime) ?? now;
  const closed = toDate(raw.closeTime);
  const ended = summary?.endedAt ? new Date(summary.endedAt) : closed;
  const percent = attribute(attrs, 'BatchProgress');
  return {
    batchId: raw.execution?.workflowId ?? '',
    status: displayStatus(code, attribute(attrs, 'BatchStatus')),
    workflowStatus: workflowStatusName(code),
    percent: typeof percent === 'number' ? percent : null,
    total: typeof total === 'number' ? total : null,
    source: str(source),
    outputDir: out,
    retryOf: str(retryOf),
    label: str(label),
    startedAt: started.toISOString(),
    endedAt: ended ? ended.toISOString() : null,
    durationMs: Math.max(0, (ended ?? now).getTime() - started.getTime()),
    throughputPerMinute: num(summary?.throughputPerMinute),
    succeeded: num(summary?.succeeded),
    failed: num(summary?.failed),
  };
}

function decodeToken(token: string): Uint8Array {
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.length === 0 || bytes.toString('base64url') !== token.replace(/=+$/, '')) {
    throw new InputError(
      `--page-token "${token}" is not a page token`,
      'copy the token printed by the previous `durabatch list`',
    );
  }
  return bytes;
}

/**
 * One page of batches. Temporal's own order applies (running batches first, then by most recent
 * end); the SDK's `workflow.list` iterator hides the page token, so this calls the visibility API
 * directly to hand the token back to the user.
 */
export async function listBatches(
  client: Client,
  namespace: string,
  opts: ListBatchesOptions,
): Promise<BatchListPage> {
  const query = buildListQuery(opts);
  let res: temporal.api.workflowservice.v1.IListWorkflowExecutionsResponse;
  try {
    res = await client.workflowService.listWorkflowExecutions({
      namespace,
      query,
      pageSize: opts.limit,
      nextPageToken: opts.pageToken ? decodeToken(opts.pageToken) : undefined,
    });
  } catch (err) {
    if (isGrpcServiceError(err) && Number(err.code) === 3 /* INVALID_ARGUMENT */) {
      throw new InputError(
        `Temporal refused the listing: ${err.details}`,
        opts.pageToken
          ? 'a page token only continues a listing with the same --status/--since filters'
          : 'check --status and --since (and that the BatchStatus search attribute is registered)',
      );
    }
    throw err;
  }
  const now = new Date();
  const all = await Promise.all((res.executions ?? []).map((raw) => toEntry(client, raw, now)));
  const needle = opts.source?.toLowerCase();
  const batches = needle ? all.filter((b) => b.source?.toLowerCase().includes(needle)) : all;
  const token =
    res.nextPageToken && res.nextPageToken.length > 0
      ? Buffer.from(res.nextPageToken).toString('base64url')
      : null;
  return { batches, nextPageToken: token, scanned: all.length, query };
}

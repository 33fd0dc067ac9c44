// The filters of `durabatch list`: the statuses it knows, `--since`, and the visibility query they
// make. Pure (no SDK import), so the CLI can show the statuses in its help without loading Temporal.
import { InputError } from '../errors';

/** Statuses `--status` accepts: the batch's own (BatchStatus) plus how a workflow can end otherwise. */
export const LIST_STATUSES = [
  'running',
  'paused',
  'cancelling',
  'completed',
  'partial_failure',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
] as const;
export type ListStatus = (typeof LIST_STATUSES)[number];

export interface ListBatchesOptions {
  status?: string;
  /** Only batches whose (current run) started after this instant. */
  since?: Date;
  /** Substring of the batch's source path (memo), matched on the client side. */
  source?: string;
  /** Page size: batches read from Temporal per call. */
  limit: number;
  /** Token printed by an earlier call with the same filters. */
  pageToken?: string;
}

/** `24h`, `7d`, `30m`, `90s` or an ISO date/time → the instant it names. */
export function parseSince(value: string, now = new Date()): Date {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(value.trim());
  if (m) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
      m[2] as 's' | 'm' | 'h' | 'd' | 'w'
    ];
    return new Date(now.getTime() - Number(m[1]) * unit);
  }
  const t = Date.parse(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value.trim()) && Number.isFinite(t)) return new Date(t);
  throw new InputError(
    `--since "${value}" is neither a duration nor an ISO date`,
    'use a duration back from now (90s, 30m, 24h, 7d, 2w) or a date such as 2025-01-31 or 2025-01-31T08:00:00Z',
  );
}

const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The visibility query: parent batch workflows only, never the runs a batch continued-as-new from. */
export function buildListQuery(opts: Pick<ListBatchesOptions, 'status' | 'since'>): string {
  const parts = ['WorkflowType = "batchWorkflow"', 'ExecutionStatus != "ContinuedAsNew"'];
  if (opts.status !== undefined) {
    const s = opts.status as ListStatus;
    if (!LIST_STATUSES.includes(s)) {
      throw new InputError(
        `--status "${opts.status}" is not a batch status`,
        `use one of: ${LIST_STATUSES.join(', ')}`,
      );
    }
    // BatchStatus is the batch's own word while it runs and when it ends normally; a workflow that
    // failed, was cancelled, terminated or timed out may not have had the chance to update it.
    const byWorkflow: Partial<Record<ListStatus, string>> = {
      failed: 'Failed',
      cancelled: 'Canceled',
      terminated: 'Terminated',
      timed_out: 'TimedOut',
    };
    if (s === 'running' || s === 'paused' || s === 'cancelling') {
      parts.push(`BatchStatus = ${quote(s)}`, 'ExecutionStatus = "Running"');
    } else if (s === 'terminated' || s === 'timed_out') {
      parts.push(`ExecutionStatus = ${quote(byWorkflow[s]!)}`);
    } else if (byWorkflow[s]) {
      parts.push(`(BatchStatus = ${quote(s)} OR ExecutionStatus = ${quote(byWorkflow[s])})`);
    } else {
      parts.push(`BatchStatus = ${quote(s)}`, 'ExecutionStatus = "Completed"');
    }
  }
  if (opts.since) parts.push(`StartTime > ${quote(opts.since.toISOString())}`);
  return parts.join(' AND ');
}

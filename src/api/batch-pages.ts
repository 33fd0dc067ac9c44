// Pages of batches for GET /v1/batches: Temporal's visibility pages, filtered on the service's side
// by source and label (memo fields visibility cannot search), and filled up to the page size asked
// for. The cursor says where the next page starts inside a visibility page (its token, and the last
// batch handed out), so every batch comes out exactly once, on one page.
import type { Client } from '@temporalio/client';
import { listBatches, type BatchListEntry } from '../client/listing';
import { ApiProblem } from './problem';

export interface BatchFilters {
  status?: string;
  /** The `since` the client sent (a duration or a date), resolved once into `sinceAt`. */
  since?: string;
  source?: string;
  label?: string;
}

interface Cursor {
  /** The visibility page token (base64url) the next page starts in; null: the first page. */
  t: string | null;
  /** The last batch handed out from that page; the next page starts after it. */
  a: string | null;
  /** Its position in that page, should it have moved away (a batch that ended in between). */
  s: number;
  /** Visibility page size the cursor was made with (positions are relative to it). */
  n: number;
  /** The `since` instant the first page resolved (a duration is read once, not on every page). */
  at: string | null;
  /** The filters, so a cursor is not used with others. */
  f: string;
}

/** Visibility calls one request may make: a selective filter hands back a short page and a cursor rather than scanning on. */
const MAX_SCANS_PER_REQUEST = 10;
const MAX_CURSOR_CHARS = 4_096;

const filterKey = (f: BatchFilters) =>
  JSON.stringify([f.status ?? null, f.since ?? null, f.source ?? null, f.label ?? null]);

const badCursor = (why: string) =>
  new ApiProblem(
    400,
    'Bad Request',
    `query parameter "cursor" ${why}`,
    'pass the nextCursor of the previous page unchanged, with the same status, since, source and label',
  );

function decodeCursor(text: string, filters: BatchFilters): Cursor {
  if (text.length > MAX_CURSOR_CHARS) throw badCursor('is too long to be a cursor');
  let c: Partial<Cursor>;
  try {
    c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<Cursor>;
  } catch {
    throw badCursor('is not a cursor of this service');
  }
  const ok =
    typeof c === 'object' &&
    c !== null &&
    (c.t === null || typeof c.t === 'string') &&
    (c.a === null || typeof c.a === 'string') &&
    Number.isInteger(c.s) &&
    Number.isInteger(c.n) &&
    (c.at === null || typeof c.at === 'string') &&
    typeof c.f === 'string';
  if (!ok) throw badCursor('is not a cursor of this service');
  if (c.f !== filterKey(filters)) throw badCursor('was made for other filters');
  return c as Cursor;
}

const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');

export interface BatchPage {
  batches: BatchListEntry[];
  nextCursor: string | null;
}

/**
 * One page of at most `limit` batches matching `filters`, newest first as Temporal orders them
 * (running batches first). `resolveSince` turns the client's `since` into an instant.
 */
export async function batchPage(
  client: Client,
  namespace: string,
  filters: BatchFilters,
  limit: number,
  cursorText: string | undefined,
  resolveSince: (since: string) => Date,
): Promise<BatchPage> {
  const cursor = cursorText ? decodeCursor(cursorText, filters) : undefined;
  const pageSize = cursor?.n ?? limit;
  const sinceAt = cursor ? cursor.at : filters.since ? resolveSince(filters.since).toISOString() : null;
  const needle = filters.source?.toLowerCase();
  const matches = (b: BatchListEntry) =>
    (!needle || (b.source?.toLowerCase().includes(needle) ?? false)) &&
    (filters.label === undefined || b.label === filters.label);
  const next = (t: string | null, a: string | null, s: number): string =>
    encodeCursor({ t, a, s, n: pageSize, at: sinceAt, f: filterKey(filters) });

  const out: BatchListEntry[] = [];
  let token = cursor?.t ?? null;
  let after = cursor ? { id: cursor.a, at: cursor.s } : undefined;
  for (let scans = 0; scans < MAX_SCANS_PER_REQUEST; scans++) {
    const page = await listBatches(client, namespace, {
      status: filters.status,
      since: sinceAt ? new Date(sinceAt) : undefined,
      limit: pageSize,
      pageToken: token ?? undefined,
    });
    const entries = page.batches;
    let from = 0;
    if (after) {
      const found = after.id === null ? -1 : entries.findIndex((b) => b.batchId === after!.id);
      from = found >= 0 ? found + 1 : after.at;
      after = undefined;
    }
    for (let i = from; i < entries.length; i++) {
      if (!matches(entries[i]!)) continue;
      out.push(entries[i]!);
      if (out.length === limit) {
        if (i + 1 < entries.length)
          return { batches: out, nextCursor: next(token, entries[i]!.batchId, i + 1) };
        return { batches: out, nextCursor: page.nextPageToken ? next(page.nextPageToken, null, 0) : null };
      }
    }
    if (!page.nextPageToken) return { batches: out, nextCursor: null };
    token = page.nextPageToken;
  }
  return { batches: out, nextCursor: next(token, null, 0) };
}

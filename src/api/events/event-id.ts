// The id of each event of a batch's stream: where the stream stands in both of its sources, the
// recorded outcomes (result page and line, see OutcomePosition in workflows/messages.ts) and the
// item journal (a byte offset). Both only grow and never move, so an id resumes the stream after
// a disconnect or on another replica with nothing lost or repeated. Past the last result page of a
// closed batch, the line counts the items that never started (event-stream.ts).
import type { OutcomePosition } from '../../../workflows/messages';

export interface StreamCursor extends OutcomePosition {
  /** Byte offset in logs/items.jsonl of the next line to read. */
  journal: number;
}

export const START: StreamCursor = { page: 0, line: 0, journal: 0 };

export function formatEventId(c: StreamCursor): string {
  return `o${c.page}.${c.line}.j${c.journal}`;
}

/** The cursor an id names, or undefined when it is not one of ours (a client sent it). */
export function parseEventId(id: string): StreamCursor | undefined {
  const m = /^o(\d{1,9})\.(\d{1,9})\.j(\d{1,15})$/.exec(id);
  if (!m) return undefined;
  const [page, line, journal] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return Number.isSafeInteger(journal) ? { page, line, journal } : undefined;
}

// A page child's input and result, its Current Details, and its ItemKeys list.
import type { ItemRunSpec } from './item-run';
import type { PageControl } from './messages';
import type { StagedSourceRef } from './types';

export interface PageInput extends ItemRunSpec {
  /** The parent's workflow id (no run id: reports must reach whichever run is current). */
  parentWorkflowId: string;
  source: StagedSourceRef;
  /** Index of the page's first item, and how many consecutive items it holds. */
  first: number;
  count: number;
  control: PageControl;
  /** Items of this page an operator cancelled before it started (already counted by the parent). */
  skip: string[];
  /**
   * Sent with every report to the parent, and expected on every message from it: only the parent
   * and this page know it (absent: a page started before tokens; messages are taken without).
   */
  reportToken?: string;
}

export interface PageSummary {
  first: number;
  count: number;
  reported: number;
}

/** Current Details of a page: its items and their state (the first 100). */
export function pageDetails(input: PageInput, state: Map<string, string>): string {
  const counts: Record<string, number> = {};
  for (const s of state.values()) counts[s] = (counts[s] ?? 0) + 1;
  const summary = Object.entries(counts)
    .map(([s, n]) => `${s} **${n}**`)
    .join(' · ');
  const rows = [...state.entries()].slice(0, 100).map(([k, s]) => `${k}: ${s}`);
  return [
    `**page** items ${input.first + 1}–${input.first + input.count} of batch ${input.batchId}`,
    '',
    summary,
    '',
    rows.join(' · ') + (state.size > 100 ? ' · …' : ''),
  ].join('\n');
}

/**
 * The first keys whose encoded size stays within `maxBytes`: a KeywordList search attribute is
 * refused over 2,048 bytes. Pages with longer keys list only some of them in ItemKeys.
 */
export function keysWithin(keys: string[], maxBytes: number): string[] {
  const out: string[] = [];
  let size = 2; // the JSON list's brackets
  for (const key of keys) {
    const bytes = utf8Length(JSON.stringify(key)) + 1; // quoted and escaped, plus a comma
    if (size + bytes > maxBytes) break;
    size += bytes;
    out.push(key);
  }
  return out;
}

/** UTF-8 length of a string, counted by hand: the workflow sandbox has no Buffer. */
function utf8Length(text: string): number {
  let n = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

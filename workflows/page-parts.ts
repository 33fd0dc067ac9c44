// A page child's Current Details and its ItemKeys list.
import type { PageInput } from './page';

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

// A page child's item records that never ran, and its Current Details.
import { workflowNowIso } from './clock';
import type { PageInput } from './page';
import type { Item, ItemOutcome } from './types';

export function neverRan(
  item: Item,
  status: 'skipped' | 'cancelled',
  errorType: string,
  message: string,
): ItemOutcome {
  const now = workflowNowIso();
  return {
    index: item.index,
    key: item.key,
    status,
    attempts: 0,
    latencyMs: 0,
    startedAt: now,
    endedAt: now,
    errorType,
    errorMessage: message,
  };
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

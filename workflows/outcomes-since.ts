// The `outcomesSince` query's answer: the outcomes recorded but not yet written to a result page,
// from a position, with the status. Together with the result pages on disk it gives every outcome in
// the order it was recorded, each at a position that never changes: what the service's events
// stream resumes from (src/api/events/). A query adds no history event.
import type { BatchState } from './batch-state';
import { MAX_OUTCOMES_PER_QUERY, type OutcomePosition, type OutcomesSince } from './messages';

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The answer for `raw` (anyone can query: a malformed position reads from the start of the tail). */
export function outcomesSince(
  state: Pick<BatchState, 'resultsPage' | 'unwrittenOutcomes'>,
  pageSize: number,
  progress: OutcomesSince['progress'],
  raw: unknown,
): OutcomesSince {
  const want = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<OutcomePosition> & {
    limit?: unknown;
  };
  const page = isCount(want.page) ? want.page : 0;
  const line = isCount(want.line) ? Math.min(want.line, pageSize) : 0;
  const limit = isCount(want.limit)
    ? Math.min(Math.max(want.limit, 1), MAX_OUTCOMES_PER_QUERY)
    : MAX_OUTCOMES_PER_QUERY;
  const tail = state.unwrittenOutcomes;
  // Positions below the first unwritten page are on disk: the tail is answered from its start.
  const skip =
    page < state.resultsPage ? 0 : Math.min((page - state.resultsPage) * pageSize + line, tail.length);
  return {
    progress,
    resultsPage: state.resultsPage,
    pageSize,
    unwritten: tail.length,
    from: { page: state.resultsPage + Math.floor(skip / pageSize), line: skip % pageSize },
    outcomes: tail.slice(skip, skip + limit),
  };
}

// Children (item or page workflows) that closed without reporting: terminated from the Web UI, or
// timed out. They never will report, so their items are recorded failed and their slots freed.
import type { BatchState } from './batch-state';
import { ITEM_WORKFLOW_CLOSED } from './failure-types';
import { unranOutcome } from './outcomes';
import type { PageChildren } from './page-children';

/**
 * Records the in-flight items of these closed workflows failed. `byResult`: keys of items whose child
 * reports by result to this run; they are failed where that result is awaited, not here.
 */
export async function failClosedUnreported(
  state: BatchState,
  pages: PageChildren | undefined,
  byResult: ReadonlySet<string>,
  closedIds: string[],
): Promise<void> {
  const closed = new Set(closedIds);
  const message = (id: string) => `workflow ${id} closed without reporting an outcome (was it terminated?)`;
  for (const page of [...state.pages.values()]) {
    if (closed.has(page.childId)) {
      await pages?.failUnreported(page, 'failed', ITEM_WORKFLOW_CLOSED, message(page.childId));
    }
  }
  for (const f of [...state.inFlight.values()]) {
    // A child awaited by result is failed by failedResult if it closed without an outcome; one
    // that closed normally may be seen closed before its result reaches this run.
    if (!closed.has(f.childId) || byResult.has(f.key)) continue;
    state.applyOutcome(
      unranOutcome(f, 'failed', ITEM_WORKFLOW_CLOSED, `item ${message(f.childId)}`, f.startedAt),
    );
  }
}

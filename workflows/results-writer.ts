// Writing the batch's numbered result pages. A page write is a whole-file replace: when a cancel
// interrupts the forced flush before continue-as-new, the ending rewrites the same page with more
// outcomes, and a first write abandoned at the cancel (it does not heartbeat, so it runs on) could
// land after it and replace the page with fewer. So a cancelled write is awaited to its end first.
import { ActivityCancellationType, patched, proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { BatchState } from './batch-state';
import { FILE_WORK } from './activity-options';

const abandonedOnCancel = proxyActivities<ReturnType<typeof createActivities>>(FILE_WORK).writeResultsPage;
const awaitedOnCancel = proxyActivities<ReturnType<typeof createActivities>>({
  ...FILE_WORK,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
}).writeResultsPage;

/** The results-page write of this run (batches started before the change keep theirs). */
function resultsPageWrite(): typeof awaitedOnCancel {
  return patched('results-write-awaited-on-cancel') ? awaitedOnCancel : abandonedOnCancel;
}

/**
 * Writes the outcomes not written yet as numbered pages of `pageSize`: full pages only, or with
 * `force` also the last partial one. An outcome leaves the queue once its page is written.
 */
export async function writeResultPages(
  state: Pick<BatchState, 'unwrittenOutcomes' | 'resultsPage'>,
  batch: { outputDir: string; batchId: string },
  pageSize: number,
  force: boolean,
): Promise<void> {
  while (state.unwrittenOutcomes.length >= (force ? 1 : pageSize)) {
    const outcomes = state.unwrittenOutcomes.slice(0, pageSize);
    await resultsPageWrite()({
      outputDir: batch.outputDir,
      batchId: batch.batchId,
      page: state.resultsPage,
      outcomes,
    });
    state.unwrittenOutcomes.splice(0, outcomes.length);
    state.resultsPage += 1;
  }
}

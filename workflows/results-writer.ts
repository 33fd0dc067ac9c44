// Writing the batch's numbered result pages. A page write is a whole-file replace: when a cancel
// interrupts the forced flush before continue-as-new, the ending rewrites the same page with more
// outcomes, and a first write abandoned at the cancel (it does not heartbeat, so it runs on) could
// land after it and replace the page with fewer. So a cancelled write is awaited to its end first.
import { ActivityCancellationType, patched, proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';

const options = { startToCloseTimeout: '2 minutes', retry: { maximumInterval: '30 seconds' } } as const;

const abandonedOnCancel = proxyActivities<ReturnType<typeof createActivities>>(options).writeResultsPage;
const awaitedOnCancel = proxyActivities<ReturnType<typeof createActivities>>({
  ...options,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
}).writeResultsPage;

/** The results-page write of this run (batches started before the change keep theirs). */
export function resultsPageWrite(): typeof awaitedOnCancel {
  return patched('results-write-awaited-on-cancel') ? awaitedOnCancel : abandonedOnCancel;
}

// How the batch's own activities (source pages, result files, the audit log, the report, visibility
// checks) are run. They heartbeat while they run (activities/index.ts, keptAlive), so a short
// heartbeat timeout bounds what a dead worker costs: the parent or page waits on such an activity,
// and with only a start-to-close timeout a worker killed mid-way held the whole batch for it (two
// minutes per kill). Since workers take activities eagerly, the one running a workflow task often
// runs its activities too, so this is the common case when a worker dies, not a rare one.
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { createActivities } from '../activities';

/** A bookkeeping activity whose worker died is retried elsewhere after this long. */
export const BOOKKEEPING_HEARTBEAT_TIMEOUT = '10 seconds';

/** `options` for a bookkeeping activity, with the heartbeat timeout that notices a dead worker. */
export function bookkeeping(options: ActivityOptions): ActivityOptions {
  return { heartbeatTimeout: BOOKKEEPING_HEARTBEAT_TIMEOUT, ...options };
}

/** Reading the staged source and writing result files and the report: retried, backing off to 30 s. */
export const FILE_WORK = bookkeeping({
  startToCloseTimeout: '2 minutes',
  retry: { maximumInterval: '30 seconds' },
});

/** The parent's and the pages' reads of the source, and the parent's report. */
export const { readPage, writeReport } = proxyActivities<ReturnType<typeof createActivities>>(FILE_WORK);

// Writing the batch's numbered result pages and its report. A page write is a whole-file replace:
// when a cancel interrupts the forced flush before continue-as-new, the ending rewrites the same
// page with more outcomes, and a first write abandoned at the cancel (it does not heartbeat, so it
// runs on) could land after it and replace the page with fewer. So a cancelled write is awaited to
// its end first.
//
// A write that fails for its storage (a full disk, an unwritable output: OutputStorageError) pauses
// the batch with the error as its reason and is tried again on `resume`: retrying it for ever showed
// a running batch with an ETA while nothing could move.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  condition,
  isCancellation,
  log,
  proxyActivities,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { WriteReportInput } from '../activities/results/report';
import type { BatchState } from './batch-state';
import { FILE_WORK, writeReport } from './activity-options';
import { FailureType } from './failure-types';
import { hasPatch } from './patches';

const abandonedOnCancel = proxyActivities<ReturnType<typeof createActivities>>(FILE_WORK).writeResultsPage;
const awaitedOnCancel = proxyActivities<ReturnType<typeof createActivities>>({
  ...FILE_WORK,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
}).writeResultsPage;

/** The results-page write of this run (batches started before the change keep theirs). */
function resultsPageWrite(): typeof awaitedOnCancel {
  return hasPatch('resultsWriteAwaitedOnCancel') ? awaitedOnCancel : abandonedOnCancel;
}

type StorageState = Pick<BatchState, 'paused' | 'pauseForStorage' | 'storageRetried'>;

/**
 * Failures of where the batch's files go, that only an operator fixes: a full or unwritable output,
 * or (after its attempts, each free to land on another worker) a worker that cannot see the output.
 */
const STORAGE_TYPES: readonly string[] = [FailureType.OutputStorageError, FailureType.SharedStorageError];

/** The storage error's message when `err` is an activity's storage failure. */
function storageError(err: unknown): string | undefined {
  return err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    STORAGE_TYPES.includes(err.cause.type ?? '')
    ? err.cause.message
    : undefined;
}

/**
 * Runs `write`; while it fails for its storage, the batch is paused with the error as its reason
 * (no new item starts; `status` says why) and `write` runs again once an operator resumes it.
 */
async function untilWritten<T>(
  state: StorageState,
  write: () => Promise<T>,
  onPause?: () => void,
): Promise<T> {
  for (;;) {
    try {
      return await write();
    } catch (err) {
      const reason = storageError(err);
      if (reason === undefined) throw err;
      state.pauseForStorage(reason);
      onPause?.();
      await condition(() => !state.paused);
      state.storageRetried();
    }
  }
}

/**
 * Writes the outcomes not written yet as numbered pages of `pageSize`: full pages only, or with
 * `force` also the last partial one. An outcome leaves the queue once its page is written.
 */
export async function writeResultPages(
  state: Pick<BatchState, 'unwrittenOutcomes' | 'resultsPage' | 'resultsPageWritten'> & StorageState,
  batch: { outputDir: string; batchId: string },
  pageSize: number,
  force: boolean,
  onPause?: () => void,
): Promise<void> {
  while (state.unwrittenOutcomes.length >= (force ? 1 : pageSize)) {
    const outcomes = state.unwrittenOutcomes.slice(0, pageSize);
    await untilWritten(
      state,
      () =>
        resultsPageWrite()({
          outputDir: batch.outputDir,
          batchId: batch.batchId,
          page: state.resultsPage,
          outcomes,
        }),
      onPause,
    );
    state.resultsPageWritten(outcomes.length);
  }
}

/**
 * Writes the final report, waiting paused while its storage fails. Any other failure (after the
 * activity's bounded attempts) is returned, not thrown: the batch still ends, and says the report
 * is missing and why.
 */
export async function writeFinalReport(
  state: StorageState & Pick<BatchState, 'batchId'>,
  input: WriteReportInput,
  onPause?: () => void,
): Promise<string | undefined> {
  try {
    await untilWritten(state, () => writeReport(input), onPause);
    return undefined;
  } catch (err) {
    if (isCancellation(err)) throw err;
    const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
    const message = cause instanceof Error ? cause.message : String(cause);
    log.warn('the report could not be written', { batchId: state.batchId, error: message });
    return message;
  }
}

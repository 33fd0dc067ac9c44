// Every replay-compatibility switch of the workflows, in one place (the SDK keeps its own flags the
// same way). A batch started before a change replays the commands it issued then: `patched(id)`
// answers false in a history recorded before the id existed, true in every run after. An id is
// written into histories, so it is never renamed or reused; when no batch that predates it can still
// run, it can be deprecated (`deprecatePatch`) and later removed. Each entry: what it guards, and
// the commit that introduced it.
import { patched } from '@temporalio/workflow';

export const PATCHES = {
  /** Per-item children report by result to the run that started them, not by signal (6e9f93c). */
  reportByResult: 'item-outcome-by-result',
  /** A results-page write interrupted by a cancel is awaited before the ending rewrites it (1a73924). */
  resultsWriteAwaitedOnCancel: 'results-write-awaited-on-cancel',
  /** Page mode starts the next page ahead, with no slot, once every slot is taken (fe8e629). */
  pageStandby: 'page-standby',
  /** A page holds at most half the slots while another can run; unused budget allowance is taken back (e4036d7). */
  pageSlotSplit: 'page-slot-split',
  /** Children get a token their reports (and the parent's messages to them) must carry (f1f71ae). */
  senderToken: 'internal-message-token',
  /** Cancelling one item waits until its holder's start is recorded (e838b02). */
  cancelAfterStart: 'item-cancel-after-start',
  /** Two cancels of one pending item taken at once count it skipped once, not twice (issue 25). */
  cancelPendingOnce: 'cancel-pending-once',
} as const;

export type PatchName = keyof typeof PATCHES;

/** Whether this run has the change `name` guards (records the marker on first use). */
export function hasPatch(name: PatchName): boolean {
  return patched(PATCHES[name]);
}

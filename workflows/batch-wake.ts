// Why the batch loop wakes up: the one condition it waits on, named, so a batch that waits can say
// what for and a unit test can check each cause on plain data.
import type { BatchState } from './batch-state';
import type { FailurePolicy } from './types';
import type { Lane } from './lanes';

export type WakeReason =
  | 'all-done'
  | 'slots-free'
  | 'results-page-full'
  | 'audit-queued'
  | 'lane-turn'
  | 'status-changed'
  | 'failure-policy';

export interface WakeView {
  state: Pick<
    BatchState,
    'walked' | 'unwrittenOutcomes' | 'auditQueue' | 'currentStatus' | 'failurePolicyBreach'
  >;
  lane: Pick<Lane, 'idle' | 'wantsTurn'>;
  /** Whether the lane could start an item now (the gate is open and a slot is free). */
  canStartMore: boolean;
  failurePolicy: FailurePolicy;
  resultsPageSize: number;
  /** The status the Web UI shows now (the presenter's last search attribute). */
  shownStatus: string;
}

/** The first reason the loop has work to do, or undefined: keep waiting. */
export function wakeReason(v: WakeView): WakeReason | undefined {
  if (v.state.walked && v.lane.idle) return 'all-done';
  if (v.canStartMore) return 'slots-free';
  if (v.state.unwrittenOutcomes.length >= v.resultsPageSize) return 'results-page-full';
  if (v.state.auditQueue.length > 0) return 'audit-queued';
  if (v.lane.wantsTurn) return 'lane-turn';
  if (v.state.currentStatus() !== v.shownStatus) return 'status-changed';
  if (v.state.failurePolicyBreach(v.failurePolicy) !== undefined) return 'failure-policy';
  return undefined;
}

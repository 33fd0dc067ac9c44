// What a batch run hands to the next one at continue-as-new: plain data, every collection bounded
// (by concurrency, a fixed cap, or operator actions). BatchState is built from it and back.
import type { InFlightPage } from './page-slots';
import type { StatsState } from './stats';
import type { AuditDraft, FailureRecord, ItemOutcome, ItemStatus, Limits } from './types';

export interface InFlightItem {
  key: string;
  index: number;
  childId: string;
  startedAt: string;
  /** Cost expected when it started, held against the budget until its real cost is known. */
  expectedCost?: number;
  /** The token its child was started with: its reports must carry it (absent: started before tokens). */
  token?: string;
}

/** Plain-data state handed to the next run by continue-as-new. */
export interface CarriedState {
  cursor: number;
  counts: Record<ItemStatus, number>;
  inFlight: InFlightItem[];
  stats: StatsState;
  failures: FailureRecord[];
  limits: Limits;
  paused: boolean;
  pauseReason?: string;
  resultsPage: number;
  unwrittenOutcomes: ItemOutcome[];
  /**
   * Pending items cancelled by an operator (key → index): already counted as skipped, never started.
   * BatchState.cancelledPending; the field keeps its first name, which runs in flight carry.
   */
  skipAhead: Record<string, number>;
  startedAt: string;
  runNumber: number;
  /** In-flight items waiting for a resume because the workers could not run them (key → child id). */
  blocked?: Record<string, string>;
  pages?: InFlightPage[];
  /** Audit entries not yet written (operator actions are few; flushed every loop turn). */
  auditQueue?: AuditDraft[];
  auditSeq?: number;
}

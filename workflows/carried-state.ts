// What a batch run hands to the next one at continue-as-new: plain data, every collection bounded
// (by concurrency, a fixed cap, or operator actions). BatchState is built from it and back.
import type { AllowanceFields, PageCommitted } from './lanes/page-allowance';
import type { PageControl } from './messages';
import type { StatsState } from './stats';
import type { AuditDraft, FailureRecord, ItemOutcome, ItemStatus, Limits } from './types';

/** A page child in flight (page mode): `count` consecutive items from `first`. */
export interface InFlightPage extends AllowanceFields, PageCommitted {
  childId: string;
  first: number;
  count: number;
  /** Items of this page that may run at once: the page's share of the batch's concurrency. */
  slots: number;
  /** Items the page last said were still running or not started. */
  unfinished: number;
  /** One character per item, '1' once its outcome is recorded here (or it was skipped before). */
  done: string;
  startedAt: string;
  /** The token the page was started with: its reports must carry it (absent: started before tokens). */
  token?: string;
  /** The control last sent to the page. */
  sent: Omit<PageControl, 'avgCost'>;
  // With a budget, its allowance and what it committed: workflows/lanes/page-allowance.ts.
  /** Items the page said were running at its last report, and whether it said it was paused. */
  running?: number;
  paused?: boolean;
}

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

// The batch workflow's input: a reference to the staged source (never the items), the steps, the
// limits and policies, and the state carried across continue-as-new.
import type { CarriedState } from './carried-state';
import type { CostPolicy, FailurePolicy, ItemRetryPolicy, Limits, StagedSourceRef, StepSpec } from './types';

export interface BatchInput {
  batchId: string;
  source: StagedSourceRef;
  /** One step (a single processor) or a pipeline. */
  steps: StepSpec[];
  limits: Limits;
  retry: ItemRetryPolicy;
  failurePolicy: FailurePolicy;
  outputDir: string;
  webUiUrl?: string;
  /** Items read per page activity (default 100); pages stay far below the payload limit. */
  pageSize?: number;
  /** Continue-as-new after this many history events even if the server has not suggested it (default 8,000). */
  continueAsNewAfterEvents?: number;
  /** Outcomes buffered before a results page is written (default 200). */
  resultsPageSize?: number;
  /** How long cancellation waits for in-flight children to stop (default 60 s). */
  cancelGraceMs?: number;
  /** How item costs are known (budget and cost statistics). */
  cost?: CostPolicy;
  /** XLSX sources: write the results workbook, named after this sheet (default true). */
  resultsWorkbook?: { enabled: boolean; sheet?: string };
  /** results.csv/failed.csv keep formula-like cells raw (default false: neutralised). */
  csvFormulas?: boolean;
  /**
   * Items per child workflow: 1 (default) starts one child per item; N > 1 starts one page child per
   * N consecutive items, each item an activity in it (page mode).
   */
  itemsPerChild?: number;
  /**
   * Page mode: run items as activities (default), as local activities (`local`, short calls), or
   * inside runner activities (`runner`, workflows/runner-protocol.ts).
   */
  itemExecution?: 'activity' | 'local' | 'runner';
  /**
   * Random secret drawn by the client that starts the batch (never by the workflow, whose randomness
   * is a function of its public run id); each child's message token is derived from it
   * (workflows/message-token.ts). Only in payloads, so the codec encrypts it. Absent: a batch started
   * by an older client, whose tokens come from the workflow's seeded PRNG (weaker, see senderToken).
   */
  messageSecret?: string;
  /** State from the previous run; absent on the first run. */
  carried?: CarriedState;
}

// The batch's message handlers: queries, pause/resume, setLimits and cancelItem.
import { ApplicationFailure, proxyActivities, setHandler } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { ChildLauncher } from './batch-children';
import type { BatchState } from './batch-state';
import { workflowNowIso } from './clock';
import {
  cancelItemUpdate,
  failuresQuery,
  itemCompletedSignal,
  messageDescriptions as describe,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setLimitsUpdate,
  validateLimits,
  type CancelItemInput,
  type SetLimitsInput,
} from './messages';
import type { StagedSourceRef } from './types';

const { findItem } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '5 minutes',
});

export interface HandlerContext {
  state: BatchState;
  children: ChildLauncher;
  source: StagedSourceRef;
  outputDir: string;
  webUiUrl: string | null;
  /** Called after any message changed the batch (Current Details are refreshed). */
  onChange(): void;
  onStrayOutcome(key: string): void;
}

export function registerBatchHandlers(ctx: HandlerContext): void {
  const { state, children } = ctx;
  setHandler(
    itemCompletedSignal,
    (outcome) => {
      if (!state.applyOutcome(outcome)) ctx.onStrayOutcome(outcome.key);
      ctx.onChange();
    },
    { description: describe.itemCompleted },
  );
  setHandler(
    pauseSignal,
    (arg) => {
      state.paused = true;
      state.pauseReason = arg?.reason ?? 'paused by operator';
      ctx.onChange();
    },
    { description: describe.pause },
  );
  setHandler(
    resumeSignal,
    () => {
      state.paused = false;
      state.pauseReason = undefined;
      ctx.onChange();
    },
    { description: describe.resume },
  );
  setHandler(progressQuery, () => state.progress(ctx.outputDir, ctx.webUiUrl), {
    description: describe.progress,
  });
  setHandler(failuresQuery, () => [...state.failures], { description: describe.failures });

  setHandler(
    setLimitsUpdate,
    (req) => {
      state.limits = {
        concurrency: req.concurrency ?? state.limits.concurrency,
        rate: req.rate === undefined ? state.limits.rate : (req.rate ?? undefined),
        budget: req.budget === undefined ? state.limits.budget : (req.budget ?? undefined),
      };
      ctx.onChange();
      return state.limits;
    },
    {
      description: describe.setLimits,
      validator: (req: SetLimitsInput) => {
        const problem = validateLimits(req);
        if (problem) throw new Error(problem);
      },
    },
  );

  setHandler(
    cancelItemUpdate,
    async ({ key }) => {
      const running = () => state.inFlight.get(key);
      if (running()) {
        await children.cancel(running()!.childId);
        return { key, action: 'cancelling' as const };
      }
      if (key in state.skipAhead) return { key, action: 'skipped' as const };
      const found = await findItem({ source: ctx.source, key });
      if (!found)
        throw ApplicationFailure.nonRetryable(`no item with key "${key}" in this batch`, 'UnknownItem');
      // The cursor may have moved while the item was looked up: check again.
      const nowRunning = running();
      if (nowRunning) {
        await children.cancel(nowRunning.childId);
        return { key, action: 'cancelling' as const };
      }
      if (found.index < state.cursor) {
        throw ApplicationFailure.nonRetryable(
          `item "${key}" already finished; nothing to cancel`,
          'ItemFinished',
        );
      }
      state.skipAhead[key] = found.index;
      const now = workflowNowIso();
      state.record({
        index: found.index,
        key,
        status: 'skipped',
        attempts: 0,
        latencyMs: 0,
        startedAt: now,
        endedAt: now,
        errorType: 'CancelledBeforeStart',
        errorMessage: 'cancelled by an operator before it started',
      });
      ctx.onChange();
      return { key, action: 'skipped' as const };
    },
    {
      description: describe.cancelItem,
      validator: (req: CancelItemInput) => {
        if (typeof req?.key !== 'string' || req.key === '')
          throw new Error('cancelItem needs {"key": "<item key>"}');
        if (state.terminal) throw new Error(`the batch is already ending (${state.terminal.status})`);
      },
    },
  );
}

// The batch's message handlers: queries, pause/resume, setLimits and cancelItem. Every operator
// action is queued for the audit log here, whichever client sent it.
import {
  ApplicationFailure,
  currentUpdateInfo,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { bookkeeping } from './activity-options';
import type { BatchState } from './batch-state';
import type { Lane } from './lanes';
import {
  cancelItemUpdate,
  failuresQuery,
  outcomesSinceQuery,
  itemBlockedSignal,
  itemCompletedSignal,
  itemsCompletedSignal,
  messageDescriptions as describe,
  pauseSignal,
  progressQuery,
  resumeSignal,
  retryItemSignal,
  setLimitsUpdate,
  validateLimits,
  type CancelItemInput,
  type SetLimitsInput,
} from './messages';
import type { BatchProgress, StagedSourceRef } from './types';
import { outcomesSince } from './outcomes-since';
import { hasPatch } from './patches';
import { SOURCE_PAUSE_TYPES, FailureType } from './failure-types';
import {
  fromHolder,
  ignored,
  neverThrows,
  parseItemBlocked,
  parseItemCompleted,
  parseItemsCompleted,
  parsePause,
  rejectsOnError,
  shown,
} from './message-validation';

const { findItem } = proxyActivities<ReturnType<typeof createActivities>>(
  bookkeeping({
    startToCloseTimeout: '5 minutes',
  }),
);

export interface HandlerContext {
  state: BatchState;
  lane: Lane;
  source: StagedSourceRef;
  /** Outcomes per result page (workflows/results-writer.ts): where an unwritten outcome will lie. */
  resultsPageSize: number;
  progress(): BatchProgress;
  /** Called after any message changed the batch (Current Details are refreshed). */
  onChange(): void;
  onStrayOutcome(key: string): void;
}

/** The sender of the update being handled, for the audit log. */
const updateSender = () => ({ kind: 'update' as const, updateId: currentUpdateInfo()?.id ?? '' });

export function registerBatchHandlers(ctx: HandlerContext): void {
  const { state, lane } = ctx;
  // Child → parent messages: any client can send them by name, so each is checked for its shape and
  // taken only from the child that holds the item (its id and token); anything else is logged and
  // ignored. No handler throws: that would fail the workflow task and stop the batch for good.
  setHandler(
    itemCompletedSignal,
    neverThrows('itemCompleted', (raw: unknown) => {
      const parsed = parseItemCompleted(raw);
      if ('problem' in parsed) return ignored('itemCompleted', parsed.problem, { batchId: state.batchId });
      const { outcome, sender } = parsed.ok;
      const taken = lane.takeItemReport(outcome, sender);
      if (typeof taken === 'object') {
        return ignored('itemCompleted', taken.ignored, {
          batchId: state.batchId,
          itemKey: shown(outcome.key),
          sender: shown(sender.childId),
        });
      }
      if (taken === 'stray') ctx.onStrayOutcome(shown(outcome.key));
      ctx.onChange();
    }),
    { description: describe.itemCompleted },
  );
  setHandler(
    itemsCompletedSignal,
    neverThrows('itemsCompleted', (raw: unknown) => {
      const parsed = parseItemsCompleted(raw);
      if ('problem' in parsed) return ignored('itemsCompleted', parsed.problem, { batchId: state.batchId });
      const taken = lane.takePageReport(parsed.ok);
      if (typeof taken === 'object') {
        return ignored('itemsCompleted', taken.ignored, {
          batchId: state.batchId,
          sender: shown(parsed.ok.childId),
        });
      }
      if (taken === 'stray') ctx.onStrayOutcome(shown(parsed.ok.childId));
      ctx.onChange();
    }),
    { description: describe.itemsCompleted },
  );
  setHandler(
    itemBlockedSignal,
    neverThrows('itemBlocked', (raw: unknown) => {
      const parsed = parseItemBlocked(raw);
      if ('problem' in parsed) return ignored('itemBlocked', parsed.problem, { batchId: state.batchId });
      const { key, childId, token } = parsed.ok;
      // Shown as the batch's pause reason: bounded like every other message.
      const errorType = parsed.ok.errorType.slice(0, 100);
      const errorMessage = parsed.ok.errorMessage.slice(0, 500);
      // The item's own child, or the page that holds it (a page may block before reading an item).
      const holder = lane.holderOf(key, childId);
      if (!holder) return ctx.onStrayOutcome(shown(key));
      if (!fromHolder(holder, { childId, token })) {
        return ignored('itemBlocked', 'not sent by the child that holds the item', {
          batchId: state.batchId,
          itemKey: shown(key),
          sender: shown(childId),
        });
      }
      state.block(key, holder.childId);
      if (state.paused) return ctx.onChange();
      // Every item would fail the same way: stop starting items and say why, once.
      const reason = SOURCE_PAUSE_TYPES.includes(errorType)
        ? errorMessage
        : `the workers cannot run items (${errorType}): ${errorMessage}; ` +
          `fix it on the workers, then \`durabatch resume ${state.batchId}\` runs the waiting items again`;
      state.pause({ reason, by: 'worker', args: { item: key } });
      ctx.onChange();
    }),
    { description: describe.itemBlocked },
  );
  setHandler(
    pauseSignal,
    neverThrows('pause', (raw: unknown) => {
      const parsed = parsePause(raw);
      if ('problem' in parsed) return ignored('pause', parsed.problem, { batchId: state.batchId });
      const reason = parsed.ok.reason ?? 'paused by operator';
      state.pause({ reason, sender: { kind: 'signal', name: 'pause' } });
      ctx.onChange();
    }),
    { description: describe.pause },
  );
  setHandler(
    resumeSignal,
    neverThrows('resume', async () => {
      const woken = state.resume({ kind: 'signal', name: 'resume' });
      ctx.onChange();
      // Items that waited for the workers to be fixed run their step again: one retryItem to each
      // child holding such items (an item's own child, or the page that holds it).
      // Each holder's token goes with it: a child takes retryItem only from its parent.
      const holders = new Map<string, string | undefined>();
      for (const [key, childId] of Object.entries(woken)) {
        const holder = lane.holderOf(key, childId);
        holders.set(childId, holder?.childId === childId ? holder.token : undefined);
      }
      await Promise.all(
        [...holders].map(async ([childId, token]) => {
          const child = getExternalWorkflowHandle(childId);
          // Without a token (a child started before tokens), the signal as it always was.
          await (
            token !== undefined ? child.signal(retryItemSignal, { token }) : child.signal(retryItemSignal)
          ).catch((err: unknown) =>
            log.warn('could not wake a blocked item', {
              batchId: state.batchId,
              childId,
              error: String(err),
            }),
          );
        }),
      );
    }),
    { description: describe.resume },
  );
  setHandler(progressQuery, () => ctx.progress(), { description: describe.progress });
  setHandler(failuresQuery, () => [...state.failures], { description: describe.failures });
  setHandler(
    outcomesSinceQuery,
    (from?: unknown) => outcomesSince(state, ctx.resultsPageSize, ctx.progress(), from),
    { description: describe.outcomesSince },
  );

  setHandler(
    setLimitsUpdate,
    rejectsOnError('setLimits', (req: SetLimitsInput) => {
      const limits = state.setLimits(req, updateSender());
      ctx.onChange();
      return limits;
    }),
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
    rejectsOnError('cancelItem', async ({ key }: CancelItemInput) => {
      const sender = updateSender();
      const done = (action: 'cancelling' | 'skipped') => {
        state.audit({ action: 'cancel', args: { item: key, result: action }, sender });
        return { key, action };
      };
      // An item's own child is cancelled before any lookup; when none holds it, the lookup starts in
      // this same turn (the order of commands histories recorded).
      const running = lane.cancelRunning(key);
      if (running) {
        await running;
        return done('cancelling');
      }
      if (key in state.cancelledPending) return done('skipped');
      const found = await findItem({ source: ctx.source, key });
      if (!found)
        throw ApplicationFailure.nonRetryable(`no item with key "${key}" in this batch`, 'UnknownItem');
      // The cursor may have moved while the item was looked up: check again.
      const nowRunning = lane.cancelRunning(key);
      if (nowRunning) {
        await nowRunning;
        return done('cancelling');
      }
      // Page mode: the page that holds it cancels it (running) or skips it (not started yet).
      const inPage = await lane.cancelInPage(key, found.index);
      if (inPage === 'cancelling') return done('cancelling');
      if (inPage === 'finished' || found.index < state.cursor) {
        throw ApplicationFailure.nonRetryable(
          `item "${key}" already finished; nothing to cancel`,
          FailureType.ItemFinished,
        );
      }
      // Another cancel of this item was taken while this one looked it up: it is counted once.
      if (key in state.cancelledPending && hasPatch('cancelPendingOnce')) return done('skipped');
      state.skipPending(key, found.index);
      ctx.onChange();
      return done('skipped');
    }),
    {
      description: describe.cancelItem,
      validator: (req: CancelItemInput) => {
        if (typeof req !== 'object' || req === null || typeof req.key !== 'string' || req.key === '')
          throw new Error('cancelItem needs {"key": "<item key>"}');
        if (state.ending) throw new Error(`the batch is already ending (${state.ending.status})`);
      },
    },
  );
}

// Workflow interceptors, bundled with the workflows (src/worker/bundle.ts): the guard of
// query-tail-guard.ts on every workflow type.
import { log, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { activationInstant, isUntaskedActivation, QUERY_REFUSED_UNTASKED } from './query-tail-guard';

export const interceptors: WorkflowInterceptorsFactory = () => {
  let previous: string | undefined;
  return {
    internals: [
      {
        activate(input, next) {
          const { activation, batchIndex } = input;
          const queryOnly = (activation.jobs ?? []).every((j) => j.queryWorkflow);
          if (batchIndex === 0 && !queryOnly) {
            if (isUntaskedActivation(activation, previous)) {
              log.warn('dropping events applied outside a workflow task (SDK query bug); replaying instead');
              // Failing the activation evicts the workflow: the next task replays its history whole.
              throw new Error(`${QUERY_REFUSED_UNTASKED}; it was dropped from the cache (ask again)`);
            }
            previous = activationInstant(activation);
          }
          next(input);
        },
      },
    ],
  };
};

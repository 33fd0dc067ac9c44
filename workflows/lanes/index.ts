// The one place the execution mode is chosen: the batch loop gets a lane and never asks which.
import type { BatchInput } from '../batch-input';
import type { BatchState } from '../batch-state';
import type { ItemRunSpec } from '../item-run';
import { ItemLane } from './item-lane';
import type { Lane } from './lane';
import { PageLane } from './page-lane';

export type { Gate, Lane } from './lane';

/** The lane that runs this batch's items: one child per item, or one per page of `itemsPerChild`. */
export function laneFor(input: BatchInput, state: BatchState, onOutcome: () => void): Lane {
  // What every item runs with, whether its child holds one item or a page of them.
  const spec: ItemRunSpec = {
    batchId: input.batchId,
    steps: input.steps,
    retry: input.retry,
    cost: input.cost,
    outputDir: input.outputDir,
    local: input.itemExecution === 'local',
    ...(input.itemExecution === 'runner' ? { runner: true } : {}),
  };
  const itemsPerChild = input.itemsPerChild ?? 1;
  return itemsPerChild > 1
    ? new PageLane(state, input, spec, itemsPerChild, input.carried?.pages ?? [])
    : new ItemLane(state, input, spec, input.carried?.inFlight ?? [], onOutcome);
}

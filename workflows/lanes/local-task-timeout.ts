// The workflow task timeout of a child whose items run as local activities (`--item-execution
// local`), and what it bounds: how late the child sees a message. While a local activity runs, the
// SDK keeps the child's workflow task open and completes it only at 80% of this timeout (its
// "workflow task heartbeat", a fixed fraction in sdk-core), and the server hands the child the
// messages that arrived meanwhile (a pause, cancelling one item) only with its next task. With the
// server's default of 10 s they waited up to 8 s. Replay compares a child's id and type, not its
// timeouts, so running batches replay with it.
import type { ItemRunSpec } from '../item-run';

/**
 * 2 s: messages wait at most 1.6 s, for three history events per 1.6 s while an item runs; a task
 * must still complete within the 0.4 s left after the heartbeat is due (an activation takes
 * milliseconds; a worker so loaded that it takes longer times the task out and runs it again).
 */
export const LOCAL_ITEMS_TASK_TIMEOUT_MS = 2_000;

/** The longest a child running local activities takes to see a message (its heartbeat interval). */
export const LOCAL_ITEMS_MESSAGE_DELAY_MS = LOCAL_ITEMS_TASK_TIMEOUT_MS * 0.8;

/** Start options of a child that runs `spec`'s items: the short task timeout when they run locally. */
export function childTaskTimeout(spec: Pick<ItemRunSpec, 'local'>): { workflowTaskTimeout?: number } {
  return spec.local ? { workflowTaskTimeout: LOCAL_ITEMS_TASK_TIMEOUT_MS } : {};
}

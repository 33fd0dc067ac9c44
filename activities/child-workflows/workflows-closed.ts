// Waiting for item workflows to close, used by a cancelled batch: a child reports its outcome by
// signal just before it closes, so "every item reported" is not yet "no item still running".
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';

export interface AwaitWorkflowsClosedInput {
  batchId: string;
  workflowIds: string[];
  timeoutMs: number;
}

const POLL_MS = 250;
const PARALLEL = 20;

/** Returns the ids still open after `timeoutMs` (normally none). */
export async function awaitWorkflowsClosed(input: AwaitWorkflowsClosedInput): Promise<string[]> {
  const ctx = Context.current();
  const client = ctx.client;
  const deadline = Date.now() + input.timeoutMs;
  let open = [...input.workflowIds];
  for (;;) {
    const stillOpen: string[] = [];
    for (let i = 0; i < open.length; i += PARALLEL) {
      const chunk = open.slice(i, i + PARALLEL);
      const running = await Promise.all(
        chunk.map(async (id) => {
          try {
            const d = await client.workflow.getHandle(id).describe();
            return d.status.name === 'RUNNING';
          } catch (err) {
            if (err instanceof WorkflowNotFoundError) return false;
            throw err;
          }
        }),
      );
      chunk.forEach((id, j) => running[j] && stillOpen.push(id));
    }
    open = stillOpen;
    ctx.heartbeat({ open: open.length });
    if (open.length === 0 || Date.now() >= deadline) return open;
    await ctx.sleep(POLL_MS);
  }
}

export interface FindClosedWorkflowsInput {
  batchId: string;
  workflowIds: string[];
}

/**
 * Which of these item workflows are closed, found with one visibility query for the batch's
 * terminated or timed-out items (normally none), each confirmed by describing its latest run: a reset
 * leaves a terminated run behind while a new run of the same id goes on.
 */
export async function findClosedWorkflows(input: FindClosedWorkflowsInput): Promise<string[]> {
  const client = Context.current().client;
  const wanted = new Set(input.workflowIds);
  const candidates = new Set<string>();
  const query =
    `BatchId = ${JSON.stringify(input.batchId)} AND ` +
    `(ExecutionStatus = "Terminated" OR ExecutionStatus = "TimedOut")`;
  for await (const wf of client.workflow.list({ query })) {
    if (wanted.has(wf.workflowId)) candidates.add(wf.workflowId);
  }
  const closed: string[] = [];
  for (const id of candidates) {
    try {
      const d = await client.workflow.getHandle(id).describe();
      if (d.status.name !== 'RUNNING') closed.push(id);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) closed.push(id);
      else throw err;
    }
  }
  return closed;
}

// Determinism check: replays the recorded histories of finished workflows against the current
// workflow bundle; a nondeterminism error fails the test.
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { inject } from 'vitest';

export async function replayWorkflows(client: Client, query: string): Promise<number> {
  const histories = client.workflow.list({ query }).intoHistories();
  let replayed = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: inject('workflowBundlePath') } },
    histories,
  )) {
    if (result.error) throw new Error(`replay of ${result.workflowId} failed: ${String(result.error)}`);
    replayed += 1;
  }
  return replayed;
}

// What every durabatch contender of bench/peers.ts measures on its fresh dev server, whoever runs
// the batch (a worker in the bench, or `durabatch run`): the server's idle CPU before the start, the
// wait for the last workflow to close, and the history events of every execution.
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { processTreeCpuMs } from './proc-cpu';

/** Lets the server settle after start-up; returns what it burns idle, ms of CPU per second. */
export async function settledIdleCpu(serverPid: number): Promise<number> {
  await delay(2_000);
  const idle0 = processTreeCpuMs(serverPid);
  await delay(2_000);
  return (processTreeCpuMs(serverPid) - idle0) / 2;
}

/** Until no workflow runs (children finish just after the parent has counted them), at most a minute. */
export async function untilAllClosed(client: Client): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const { count } = await client.workflow.count('ExecutionStatus = "Running"');
    if (count === 0) return;
    await delay(200);
  }
}

/** History events of every execution on this fresh server: parent runs, children and pages. */
export async function historyOf(
  client: Client,
): Promise<{ historyEvents: number; workflowExecutions: number; parentRuns: number }> {
  let historyEvents = 0;
  let workflowExecutions = 0;
  let parentRuns = 0;
  for await (const wf of client.workflow.list()) {
    workflowExecutions++;
    if (wf.type === 'batchWorkflow') parentRuns++;
    let length = wf.historyLength;
    if (!length) length = (await client.workflow.getHandle(wf.workflowId, wf.runId).describe()).historyLength;
    historyEvents += length;
  }
  return { historyEvents, workflowExecutions, parentRuns };
}

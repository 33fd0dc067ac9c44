// What a batch is waiting on, for a durability test that runs out of time: without it, a CI log says
// only "timed out". Lists the batch's open workflows with their pending activities (type, attempt,
// state, last failure) and how long since each last did anything, and a workflow task that keeps
// failing.
import type { Client } from '@temporalio/client';

export async function stallReport(client: Client, batchId: string): Promise<string> {
  const lines: string[] = [];
  try {
    for await (const wf of client.workflow.list({
      query: `BatchId = "${batchId}" AND ExecutionStatus = "Running"`,
    })) {
      const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
      lines.push(`open ${wf.type} ${wf.workflowId} (history ${d.historyLength} events)`);
      // A workflow task failing again and again (a nondeterminism error, say) shows as attempts here.
      const task = d.raw.pendingWorkflowTask;
      if (task && (task.attempt ?? 1) > 1) {
        lines.push(
          `  workflow task attempt ${task.attempt}, state ${task.state}: it keeps failing (see the worker logs)`,
        );
      }
      for (const a of d.raw.pendingActivities ?? []) {
        const last = a.lastStartedTime?.seconds ?? a.lastHeartbeatTime?.seconds;
        const ago = last ? `${Math.round(Date.now() / 1000 - Number(last))} s since start` : 'not started';
        lines.push(
          `  activity ${a.activityType?.name} #${a.activityId} attempt ${a.attempt} state ${a.state}, ${ago}` +
            (a.lastFailure?.message ? `, last failure: ${a.lastFailure.message}` : ''),
        );
      }
    }
  } catch (err) {
    lines.push(`(could not list the batch's workflows: ${String(err)})`);
  }
  return lines.length > 0 ? lines.join('\n') : '(no open workflow of the batch)';
}

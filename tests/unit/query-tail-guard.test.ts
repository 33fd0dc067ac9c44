// The guard against events a query applied outside a workflow task (workflows/query-tail-guard.ts):
// it must catch exactly that activation, and never a real task, a replay, a query or the local
// activity results that arrive within one task.
import { describe, expect, it } from 'vitest';
import type { coresdk } from '@temporalio/proto';
import { activationInstant, isUntaskedActivation } from '../../workflows/query-tail-guard';

type Activation = coresdk.workflow_activation.IWorkflowActivation;
type Job = coresdk.workflow_activation.IWorkflowActivationJob;

const at = (seconds: number, nanos: number, jobs: Job[], isReplaying = false): Activation => ({
  // Long in the protos; a plain number is printed the same way.
  timestamp: { seconds: seconds as never, nanos },
  isReplaying,
  jobs,
});
const signal: Job = { signalWorkflow: { signalName: 'itemsCompleted', input: [] } };
const childDone: Job = { resolveChildWorkflowExecution: { seq: 3, result: {} } };
const localResult: Job = { resolveActivity: { seq: 7, result: {}, isLocal: true } };
const query: Job = { queryWorkflow: { queryId: 'q', queryType: 'progress' } };

describe('isUntaskedActivation', () => {
  const lastTask = activationInstant(at(1_800_000_000, 123_456_789, [signal], true));

  it('catches events applied at the timestamp of the task before them, outside a replay', () => {
    expect(isUntaskedActivation(at(1_800_000_000, 123_456_789, [signal, childDone]), lastTask)).toBe(true);
  });

  it('lets a real task through: its own, later timestamp, even a nanosecond later', () => {
    expect(isUntaskedActivation(at(1_800_000_000, 123_456_790, [signal]), lastTask)).toBe(false);
  });

  it('lets replays, queries, local activity results and the first activation through', () => {
    expect(isUntaskedActivation(at(1_800_000_000, 123_456_789, [signal], true), lastTask)).toBe(false);
    expect(isUntaskedActivation(at(1_800_000_000, 123_456_789, [query]), lastTask)).toBe(false);
    expect(isUntaskedActivation(at(1_800_000_000, 123_456_789, [localResult]), lastTask)).toBe(false);
    expect(isUntaskedActivation(at(1_800_000_000, 123_456_789, [signal]), undefined)).toBe(false);
  });
});

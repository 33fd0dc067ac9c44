// Reading the source can fail in a way no retry fixes and no item is to blame for: the source was
// edited since staging, or a worker cannot see the staged files. The batch then pauses and says why.
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { SOURCE_PAUSE_TYPES } from './failure-types';

/** The failure that must pause the batch, when `err` is one (else undefined: handle it as usual). */
export function sourcePauseOf(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure && SOURCE_PAUSE_TYPES.includes(cause.type ?? '')
    ? cause
    : undefined;
}

// The only place workflow code reads the time. Inside Temporal's workflow sandbox `Date` is the
// deterministic time of the current workflow task (replayed identically), not the wall clock; keeping
// the call here lets lint forbid `Date.now()` everywhere else in workflows/.
export function workflowNow(): number {
  return Date.now();
}

export function workflowNowIso(): string {
  return new Date(workflowNow()).toISOString();
}

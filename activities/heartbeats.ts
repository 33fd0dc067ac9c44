// Heartbeats let Temporal notice a dead worker within the heartbeat timeout instead of the whole
// start-to-close timeout. An item step's are sent from one place (processItem) for every processor,
// and also deliver a cancellation to the step: a processor records details of its own (progress to
// resume from); the loop repeats the latest, so a later attempt gets them even when the processor
// then stays silent for a long time. The batch's own activities (source pages, result files, the
// report) only keep alive while they run.

/** Between two heartbeats; the SDK throttles what reaches the server further. */
export const HEARTBEAT_INTERVAL_MS = 1_000;

export interface Heartbeats {
  /** Sends `details` now and repeats them from then on. */
  record(details?: unknown): void;
  stop(): void;
}

/** Heartbeats through `send` every interval, starting with `initial` (an earlier attempt's details). */
export function startHeartbeats(
  send: (details: unknown) => void,
  initial: unknown,
  intervalMs = HEARTBEAT_INTERVAL_MS,
): Heartbeats {
  let latest = initial;
  const timer = setInterval(() => send(latest), intervalMs);
  return {
    record(details) {
      latest = details;
      send(details);
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Runs `work`, heartbeating through `send` every interval while it lasts, so that a short heartbeat
 * timeout bounds how long a dead worker holds it up, however long it may legitimately run. Work that
 * ends within the interval sends nothing.
 */
export async function whileAlive<T>(
  send: () => void,
  work: () => Promise<T>,
  intervalMs = HEARTBEAT_INTERVAL_MS,
): Promise<T> {
  const beats = startHeartbeats(send, undefined, intervalMs);
  try {
    return await work();
  } finally {
    beats.stop();
  }
}

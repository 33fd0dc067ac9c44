// Heartbeats of a running item step, sent from one place (processItem) for every processor: they let
// Temporal notice a dead worker within the heartbeat timeout, and deliver a cancellation to the
// step. A processor records details of its own (progress to resume from); the loop repeats the
// latest, so a later attempt gets them even when the processor then stays silent for a long time.

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

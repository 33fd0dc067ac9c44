// The bounds of a batch's limits, written once: the config schema (src/config/schema.ts) checks a new
// batch's settings against them, and the setLimits validator (validateLimits in ./messages.ts) a
// running batch's changes. Plain constants, so workflow code and the CLI can both import them.

/** Highest concurrency a batch accepts: far below Temporal's 2,000 pending-children limit. */
export const MAX_CONCURRENCY = 1000;

/** Highest rate, in items started per second. A rate and a budget must also be above 0. */
export const MAX_RATE = 10_000;

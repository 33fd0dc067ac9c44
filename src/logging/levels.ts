// Per-operation log levels: reading a source, running processors, writing results, the workflows'
// own logs and the worker can each be turned up (debug a flaky processor) or down (quiet a chatty
// source) without drowning everything else. Kept free of pino at run time so the config schema
// can import the level names.
import type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The operations that take their own level; each line they log carries `op: <operation>`. */
export const OPERATIONS = ['source', 'processor', 'results', 'workflow', 'worker'] as const;
export type Operation = (typeof OPERATIONS)[number];

export type LogLevels = Partial<Record<Operation, LogLevel>>;

const isLevel = (v: string | undefined): v is LogLevel => LOG_LEVELS.includes(v as LogLevel);

/**
 * `DURABATCH_LOG_LEVEL_<OPERATION>` variables, for processes that load no batch config (a
 * standalone `durabatch worker`). Batch commands get the same variables through loadConfig.
 */
export function logLevelsFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevels {
  const out: LogLevels = {};
  for (const op of OPERATIONS) {
    const value = env[`DURABATCH_LOG_LEVEL_${op.toUpperCase()}`]?.trim().toLowerCase();
    if (isLevel(value)) out[op] = value;
  }
  return out;
}

/**
 * A child logger for one operation, at that operation's level when one is set (else the base
 * logger's). Lines carry `op`, so `jq 'select(.op == "processor")'` isolates them.
 * `levels` defaults to the DURABATCH_LOG_LEVEL_<OPERATION> variables.
 */
export function operationLogger(base: Logger, op: Operation, levels: LogLevels = logLevelsFromEnv()): Logger {
  const level = levels[op];
  return base.child({ op }, level ? { level } : undefined);
}

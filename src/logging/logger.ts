// pino loggers. Every line carries `batchId` (and `itemKey` in item scope) as bindings; secrets in
// headers are redacted by path in case a caller logs a request.
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Also write JSON lines to this file (created with its directory). */
  file?: string;
  /** Destination for the terminal stream (default stderr, so stdout stays for --json output). */
  fd?: number;
  /** Level on the terminal when a file also gets the logs (default: same as level). */
  terminalLevel?: string;
}

export const REDACT_PATHS = [
  'headers.authorization',
  'headers.Authorization',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers.Authorization',
  'apiKey',
  '*.apiKey',
];

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.DURABATCH_LOG_LEVEL ?? 'info';
  const terminal = (opts.terminalLevel ?? level) as pino.Level;
  const streams: pino.StreamEntry[] = [{ level: terminal, stream: pino.destination({ fd: opts.fd ?? 2, sync: true }) }];
  if (opts.file) {
    streams.push({ level: level as pino.Level, stream: pino.destination({ dest: opts.file, mkdir: true, sync: true }) });
  }
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.multistream(streams),
  );
}

/** A logger that discards everything (for library callers that pass none). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

// pino loggers. Every line carries `batchId` (and `itemKey` in item scope) as bindings; credentials
// are redacted by path in case a caller logs a request or a settings object. Files always get JSON
// lines (for jq and log shippers); a person at a terminal gets pino-pretty.
import path from 'node:path';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { AppendFile } from './batch-log-file';
import { terminalText } from '../cli/terminal-text';

export type { Logger };
export { operationLogger, type LogLevels, type Operation } from './levels';

export interface LoggerOptions {
  level?: string;
  /** Also write JSON lines to this file (created with its directory). */
  file?: string;
  /** Destination for the terminal stream (default stderr, so stdout stays for --json output). */
  fd?: number;
  /** Level on the terminal when a file also gets the logs (default: whatever the loggers write). */
  terminalLevel?: string;
  /** Human-readable terminal output. Default: when the terminal stream is a TTY and CI is not "true". */
  pretty?: boolean;
  /** Write to the terminal at all (default true); false with `file` gives a file-only logger. */
  terminal?: boolean;
}

const secretsUnder = (prefix: string) => [
  `${prefix}authorization`,
  `${prefix}Authorization`,
  `${prefix}["proxy-authorization"]`,
  `${prefix}["Proxy-Authorization"]`,
  `${prefix}cookie`,
  `${prefix}Cookie`,
  `${prefix}["x-api-key"]`,
  `${prefix}["X-Api-Key"]`,
  `${prefix}["X-API-Key"]`,
];

export const REDACT_PATHS = [
  // Request headers logged on their own or inside a request/response object.
  ...secretsUnder('headers.'),
  ...secretsUnder('*.headers.'),
  // Credentials by name, at the top of a log object or one level down (`{ config: { token } }`).
  ...['token', 'password', 'secret', 'apiKey', 'accessToken', 'refreshToken', 'clientSecret'].flatMap((k) => [
    k,
    `*.${k}`,
  ]),
  // A command's environment may hold resolved `${env:NAME}` secrets.
  'env.*',
  '*.env.*',
];

export function defaultPretty(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const tty = fd === 1 ? process.stdout.isTTY : fd === 2 ? process.stderr.isTTY : false;
  return Boolean(tty) && env.CI !== 'true';
}

/**
 * Logging never crashes the process: a stream's 'error' event with no listener is thrown by Node
 * (a full disk killed `durabatch run`), so every stream made here has one. A terminal that went
 * away (EPIPE) loses its lines and nothing else.
 */
function quiet<S extends pino.DestinationStream>(stream: S): S {
  (stream as unknown as NodeJS.EventEmitter).on?.('error', () => undefined);
  return stream;
}

/**
 * A log message as the terminal will show it, never act on it: messages quote targets' answers,
 * file names and item keys, and pino-pretty writes to the descriptor itself, past the CLI's guard on
 * process.stderr. Its fields are JSON, whose escapes already cover C0.
 */
export function prettyMessage(log: Record<string, unknown>, messageKey: string): string {
  const msg = log[messageKey];
  return terminalText(typeof msg === 'string' ? msg : msg === undefined ? '' : JSON.stringify(msg));
}

function terminalStream(fd: number, usePretty: boolean): pino.DestinationStream {
  if (!usePretty) return quiet(pino.destination({ fd, sync: true }));
  // In-process and synchronous (not a worker-thread transport): the CLI ends with process.exit(),
  // which must not lose the last lines.
  return quiet(
    pretty({
      destination: fd,
      sync: true,
      colorize: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      messageFormat: prettyMessage,
    }),
  );
}

/**
 * A log file as a stream that never throws: a line that cannot be written (full disk, read-only)
 * is dropped, and the terminal hears of it once per spell of failures (AppendFile).
 */
function fileStream(file: string): pino.DestinationStream {
  return new AppendFile(
    file,
    (err) => {
      try {
        process.stderr.write(
          `durabatch: cannot write the log file ${file} (${(err as NodeJS.ErrnoException).code ?? err.message}); ` +
            `its lines are dropped until it can be written again\n`,
        );
      } catch {
        // the terminal is gone too: nothing left to tell
      }
    },
    true,
  );
}

/** What every durabatch logger shares: ISO times, the pid, and credentials redacted by path. */
export function loggerOptions(level: string): pino.LoggerOptions {
  return {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

/** The JSON-lines file each logger made by createLogger writes to (see logFileOf). */
const loggerFiles = new WeakMap<Logger, string>();

/** The absolute path of the file `logger` (made by createLogger) writes JSON lines to, if any. */
export function logFileOf(logger: Logger): string | undefined {
  return loggerFiles.get(logger);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.DURABATCH_LOG_LEVEL ?? 'info';
  // The loggers decide what is written, not the streams: an operation logger (operationLogger) may
  // be more verbose than this one, and a stream at this logger's level would drop its lines.
  const fd = opts.fd ?? 2;
  const streams: pino.StreamEntry[] = [];
  if (opts.terminal !== false || !opts.file) {
    streams.push({
      level: (opts.terminalLevel ?? 'trace') as pino.Level,
      stream: terminalStream(fd, opts.pretty ?? defaultPretty(fd)),
    });
  }
  if (opts.file) {
    streams.push({ level: 'trace', stream: fileStream(opts.file) });
  }
  const logger = pino(loggerOptions(level), pino.multistream(streams));
  if (opts.file) loggerFiles.set(logger, path.resolve(opts.file));
  return logger;
}

// Routes Temporal's runtime logger (SDK, workflow `log`, activity logs) into pino, adding `batchId`
// and `itemKey` derived from the workflow id (`<batchId>` or `<batchId>/<itemKey>`) when the caller
// did not set them, so every line can be found by batch.
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { Logger } from 'pino';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

export function batchBindings(meta: LogMetadata | undefined): Record<string, unknown> {
  const wfId = typeof meta?.workflowId === 'string' ? meta.workflowId : undefined;
  if (!wfId || meta?.batchId !== undefined) return {};
  const slash = wfId.indexOf('/');
  return slash < 0 ? { batchId: wfId } : { batchId: wfId.slice(0, slash), itemKey: wfId.slice(slash + 1) };
}

export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly pino: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const method = LEVELS[level] ?? 'info';
    // The SDK logs every activity's start and end at debug: skip building their fields when off.
    if (!this.pino.isLevelEnabled(method)) return;
    this.pino[method]({ ...batchBindings(meta), ...meta, component: 'temporal' }, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

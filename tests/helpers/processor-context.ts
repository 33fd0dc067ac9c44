// A ProcessorContext for calling a processor directly (no worker, no Temporal): one attempt of one item.
import os from 'node:os';
import { pino, type Logger } from 'pino';
import type { ProcessorContext } from '../../activities/processors/context';

export function processorContext(opts: {
  key?: string;
  data?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  outputDir?: string;
}): ProcessorContext {
  const key = opts.key ?? 'K1';
  return {
    batchId: 'b',
    item: { index: 0, key, line: 2, data: opts.data ?? { id: key } },
    idempotencyKey: `b:${key}`,
    attempt: 1,
    signal: new AbortController().signal,
    heartbeat: () => undefined,
    lastHeartbeatDetails: undefined,
    steps: {},
    outputDir: opts.outputDir ?? os.tmpdir(),
    stopGraceMs: 1_000,
    env: opts.env ?? {},
    log: opts.log ?? pino({ level: 'silent' }),
  };
}

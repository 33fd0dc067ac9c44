// Temporal's runtime logger routed into pino: the batch and item come from the workflow id, and
// lines below the logger's level are dropped before their fields are built.
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { PinoTemporalLogger } from '../../src/logging/temporal-logger';

function capture(level: pino.Level) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: new PinoTemporalLogger(pino({ level }, stream)), lines };
}

describe('PinoTemporalLogger', () => {
  it('names the batch and the item from the workflow id, at the line’s level', async () => {
    const { logger, lines } = capture('debug');
    logger.warn('activity slow', { workflowId: 'b-1/P00042', activityType: 'processItem' });
    logger.debug('Activity completed', { workflowId: 'b-1' });
    await new Promise((r) => setImmediate(r));
    expect(lines).toMatchObject([
      {
        level: 40,
        msg: 'activity slow',
        batchId: 'b-1',
        itemKey: 'P00042',
        activityType: 'processItem',
        component: 'temporal',
      },
      { level: 20, msg: 'Activity completed', batchId: 'b-1', component: 'temporal' },
    ]);
    expect(lines[1]).not.toHaveProperty('itemKey');
  });

  it('keeps a batchId the caller set, and drops lines below the level without reading them', async () => {
    const { logger, lines } = capture('info');
    logger.info('from a workflow', { workflowId: 'x/y', batchId: 'b-2' });
    const meta = {
      get workflowId(): string {
        throw new Error('the fields of a dropped line were built');
      },
    };
    logger.debug('Activity started', meta);
    logger.trace('poll', meta);
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'from a workflow', batchId: 'b-2', workflowId: 'x/y' });
    expect(lines[0]).not.toHaveProperty('itemKey');
  });
});

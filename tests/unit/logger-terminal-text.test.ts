// A worker's terminal log (pino-pretty, written to the descriptor past the CLI's stderr guard) never
// carries a control sequence from outside: a target's answer quoted in a message, a key in a field.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger';

describe('the pretty terminal log', () => {
  it('shows hostile control sequences as escapes, in the message and in fields', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'logger-tty-')), 'terminal.txt');
    const fd = openSync(file, 'w');
    try {
      const log = createLogger({ fd, pretty: true, level: 'info' });
      const hostile = 'answer \u001b]52;c;ZXZpbA==\u0007 then \u001b[1A\u001b[2K erased';
      log.warn({ itemKey: `key\u001b[2Jx`, excerpt: hostile }, `target said: ${hostile}`);
      log.flush();
    } finally {
      closeSync(fd);
    }
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(
      'target said: answer \\u001b]52;c;ZXZpbA==\\u0007 then \\u001b[1A\\u001b[2K erased',
    );
    // pino-pretty's own colours are the only ESC left: no OSC, no BEL, no cursor or erase sequence.
    expect(text).not.toContain('\u0007');
    for (const raw of ['\u001b]', '\u001b[1A', '\u001b[2K', '\u001b[2J']) expect(text).not.toContain(raw);
  });
});

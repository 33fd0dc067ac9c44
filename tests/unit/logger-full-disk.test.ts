// Logging never crashes the process: a log file on a full disk (/dev/full fails every write with
// ENOSPC, for real) and a terminal that cannot take the lines lose them, say so once, and go on.
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logging/logger';

describe('logging on a full disk', () => {
  it('drops the file lines and tells the terminal once, without throwing or an error event', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'full-log-'));
    const file = path.join(dir, 'logs', 'worker.jsonl');
    await mkdir(path.dirname(file));
    await symlink('/dev/full', file);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const uncaught = vi.fn();
    process.on('uncaughtException', uncaught);
    try {
      const logger = createLogger({ file, terminal: false, level: 'info' });
      for (let i = 0; i < 5; i++) logger.info({ i }, 'a line the disk cannot take');
      await new Promise((r) => setTimeout(r, 50));
      const warnings = stderr.mock.calls.map((c) => String(c[0])).filter((t) => t.includes(file));
      expect(warnings).toEqual([
        `durabatch: cannot write the log file ${file} (ENOSPC); its lines are dropped until it can be written again\n`,
      ]);
      expect(uncaught).not.toHaveBeenCalled();
    } finally {
      process.off('uncaughtException', uncaught);
      stderr.mockRestore();
    }
  });

  it('a terminal stream on a full device loses its lines without an unhandled error', async () => {
    const fd = openSync('/dev/full', 'w');
    const uncaught = vi.fn();
    process.on('uncaughtException', uncaught);
    try {
      const logger = createLogger({ fd, pretty: false, level: 'info' });
      expect(() => {
        for (let i = 0; i < 5; i++) logger.info({ i }, 'a line the terminal cannot take');
      }).not.toThrow();
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).not.toHaveBeenCalled();
    } finally {
      process.off('uncaughtException', uncaught);
      closeSync(fd);
    }
  });
});

// Nothing from outside drives the terminal: control characters and bidi overrides in answers, keys,
// file names and reasons are shown as escapes, in one-line excerpts and at the CLI's print path.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { messageExcerpt, oneLine } from '../../workflows/excerpt';
import { guardTerminal, terminalText, writeControl } from '../../src/cli/terminal-text';
import { ProgressView } from '../../src/cli/progress-view';
import type { BatchProgress } from '../../workflows/types';

const CLIPBOARD = 'bad request \x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07 done';
const OVERWRITE = 'oops\x1b[1A\x1b[2Kbatch completed';
// Nothing a terminal would act on: C0 but tab/newline, DEL, C1, bidi overrides.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** A real stream that keeps what was written, as a terminal would receive it. */
function capture(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(w, { isTTY });
  return { stream: w, text: () => chunks.join('') };
}

describe('oneLine', () => {
  it('shows ESC, BEL and the other controls as escapes', () => {
    expect(oneLine(CLIPBOARD)).toBe('bad request \\u001b]52;c;Y3VybCBldmlsIHwgc2g=\\u0007 done');
    expect(oneLine(OVERWRITE)).toBe('oops\\u001b[1A\\u001b[2Kbatch completed');
  });

  it('escapes C1 controls (CSI U+009B), DEL and bidi overrides', () => {
    expect(oneLine('a\u009b2Jb\u007fc\u202eevil\u2066d')).toBe('a\\u009b2Jb\\u007fc\\u202eevil\\u2066d');
  });

  it('still turns line breaks and tabs into one space', () => {
    expect(oneLine(' a\r\n\tb ')).toBe('a b');
  });

  it('leaves no active character in a message excerpt', () => {
    const all = Array.from({ length: 0xa0 }, (_, i) => String.fromCharCode(i)).join('') + '\u202a\u2069';
    expect(messageExcerpt(all, 2000)).not.toMatch(ACTIVE);
  });
});

describe('terminalText', () => {
  it('keeps line breaks and tabs, escapes everything else', () => {
    expect(terminalText(`a\tb\n${OVERWRITE}\r\u009b`)).toBe(
      'a\tb\noops\\u001b[1A\\u001b[2Kbatch completed\\u000d\\u009b',
    );
  });

  it('keeps JSON valid and meaning the same', () => {
    const json = JSON.stringify({ reason: 'x\u009by\u202ez' });
    expect(JSON.parse(terminalText(json))).toEqual({ reason: 'x\u009by\u202ez' });
    expect(terminalText(json)).not.toMatch(ACTIVE);
  });
});

describe('guardTerminal', () => {
  it('escapes every string written to the stream, once guarded', () => {
    const out = capture(false);
    guardTerminal(out.stream);
    guardTerminal(out.stream); // idempotent: escapes are not escaped twice
    out.stream.write(`failed ${CLIPBOARD}\n`);
    expect(out.text()).toBe('failed bad request \\u001b]52;c;Y3VybCBldmlsIHwgc2g=\\u0007 done\n');
  });

  it('lets only the progress line redraw through, on a terminal', () => {
    const out = capture(true);
    guardTerminal(out.stream);
    const view = new ProgressView(out.stream);
    const p = {
      batchId: 'b',
      percent: 50,
      status: `paused`,
      succeeded: 1,
      failed: 0,
      skipped: 0,
      cancelled: 0,
      running: 0,
      pending: 1,
      throughputPerMinute: 1,
      etaSeconds: null,
    } as unknown as BatchProgress;
    const prev = process.env.CI;
    delete process.env.CI;
    try {
      view.update(p);
      view.failure(`failed k\x1b]52;c;eA==\x07: ${OVERWRITE}`);
    } finally {
      if (prev !== undefined) process.env.CI = prev;
    }
    const text = out.text();
    // The two redraws are the CLI's own; no other ESC and no BEL reached the stream.
    expect(text.split('\x1b').length - 1).toBe(2);
    expect(text.split('\x1b[2K').length - 1).toBe(2);
    expect(text).not.toContain('\x07');
    expect(text).toContain('failed k\\u001b]52;c;eA==\\u0007: oops\\u001b[1A');
  });

  it('writeControl on an unguarded stream writes the sequence as it is', () => {
    const out = capture(true);
    writeControl(out.stream, '\r\x1b[2K');
    expect(out.text()).toBe('\r\x1b[2K');
  });
});

// Nothing from outside reaches the terminal as a control sequence. A target's answer, a file name, an
// item key or a pause reason holding ESC could move the cursor, erase earlier lines or write the
// clipboard (OSC 52) of whoever runs the CLI. Every string the CLI writes to stdout or stderr passes
// through `terminalText`: the CLI's own output only ever needs line breaks and tabs, so everything else
// of C0/C1 (and the bidi overrides) is shown as its escape (`\u001b`), the same as in excerpts. The
// progress line's own redraw sequence is written with `writeControl`, the one way around the guard.
import { escapeControl } from '../../workflows/excerpt';

/** C0 and C1 controls but tab and line feed, and the bidi overrides. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const TERMINAL_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** The text as the terminal will show it, never act on it (line breaks and tabs kept). */
export function terminalText(text: string): string {
  return text.replace(TERMINAL_CONTROL, escapeControl);
}

type AnyWrite = (chunk: unknown, ...rest: unknown[]) => boolean;
const RAW_WRITE = Symbol('durabatch.rawWrite');
type Guarded = NodeJS.WriteStream & { [RAW_WRITE]?: AnyWrite };

/**
 * Makes every string written to this stream pass through `terminalText` (idempotent). Installed by the
 * CLI on stdout and stderr before any command runs, so no print path can forget it. JSON output stays
 * valid JSON with the same meaning: the escape is JSON's own.
 */
export function guardTerminal(stream: NodeJS.WriteStream): void {
  const guarded = stream as Guarded;
  if (guarded[RAW_WRITE]) return;
  const raw = stream.write.bind(stream) as AnyWrite;
  guarded[RAW_WRITE] = raw;
  const write: AnyWrite = (chunk, ...rest) =>
    raw(typeof chunk === 'string' ? terminalText(chunk) : chunk, ...rest);
  guarded.write = write;
}

/** Writes the CLI's own control sequence (the progress line's redraw), bypassing the guard. */
export function writeControl(stream: NodeJS.WriteStream, sequence: string): void {
  const raw = (stream as Guarded)[RAW_WRITE];
  if (raw) raw(sequence);
  else stream.write(sequence);
}

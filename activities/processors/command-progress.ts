// A command reports its progress by printing `durabatch-progress: 42` lines on stderr (stdout is
// its result). This reads them out of the stream as it comes, whatever the chunking, keeping at most
// one partial line of bounded length: a program that prints megabytes without a newline costs
// nothing here.
import { StringDecoder } from 'node:string_decoder';
import { commandProgressLine } from '../../src/output-dir/item-journal';

/** A longer line cannot be a progress line: it is skipped to its end. */
const MAX_LINE = 64;

export class ProgressLines {
  private partial = '';
  private skipping = false;
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly report: (percent: number) => void) {}

  push(chunk: Buffer): void {
    const text = this.decoder.write(chunk);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.line(text.slice(start, nl));
      start = nl + 1;
    }
    this.add(text.slice(start));
  }

  private add(piece: string): void {
    if (this.skipping) return;
    this.partial += piece;
    if (this.partial.length > MAX_LINE) {
      this.partial = '';
      this.skipping = true;
    }
  }

  private line(end: string): void {
    this.add(end);
    const whole = this.skipping ? undefined : this.partial;
    this.partial = '';
    this.skipping = false;
    if (whole === undefined) return;
    const percent = commandProgressLine(whole.replace(/\r$/, ''));
    if (percent !== undefined) this.report(percent);
  }
}

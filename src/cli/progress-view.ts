// Live progress for `run` and `watch`: one redrawn line on a terminal, plain periodic lines otherwise.
import type { BatchProgress } from '../../workflows/types';
import { compactDuration } from '../util/durations';
import { writeControl } from './terminal-text';

function bar(percent: number, width = 24): string {
  const filled = Math.round((Math.min(100, percent) / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

const eta = (seconds: number | null): string => (seconds === null ? '?' : compactDuration(seconds * 1000));

/** `retrying`: items this process's worker is retrying (shown when some are). */
export function progressLine(p: BatchProgress, retrying = 0): string {
  return (
    `${bar(p.percent)} ${p.percent.toFixed(1).padStart(5)}% ${p.status} ` +
    `ok ${p.succeeded} failed ${p.failed} skipped ${p.skipped} cancelled ${p.cancelled} ` +
    `running ${p.running}${retrying > 0 ? ` retrying ${retrying}` : ''} pending ${p.pending} | ` +
    `${p.throughputPerMinute}/min` +
    (p.status === 'paused' ? '' : ` eta ${eta(p.etaSeconds)}`)
  );
}

/** `results`: the lines about the report in place of the usual one (it is missing, or incomplete). */
export function summaryBlock(p: BatchProgress, results?: string[]): string {
  return [
    `batch ${p.batchId} ${p.status}${p.statusReason ? ` (${p.statusReason})` : ''}`,
    `  total ${p.total} = succeeded ${p.succeeded} + failed ${p.failed} + skipped ${p.skipped} + cancelled ${p.cancelled}` +
      (p.running + p.pending > 0 ? ` + running ${p.running} + pending ${p.pending}` : ''),
    `  throughput ${p.throughputPerMinute} items/min, latency p50 ${p.latencyMs.p50} ms p95 ${p.latencyMs.p95} ms p99 ${p.latencyMs.p99} ms`,
    ...(results ?? [`  results in ${p.outputDir}/results (summary.txt, results.csv, failed.csv)`]),
  ].join('\n');
}

export class ProgressView {
  private lastPlain = 0;
  private drawn = false;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 5_000,
    /** Items being retried by a worker in this process (transient failures are counted, not printed). */
    private readonly retrying: (batchId: string) => number = () => 0,
  ) {}

  get isTty(): boolean {
    return Boolean(this.out.isTTY) && process.env.CI !== 'true';
  }

  update(p: BatchProgress): void {
    if (this.isTty) {
      writeControl(this.out, '\r\x1b[2K');
      this.out.write(progressLine(p, this.retrying(p.batchId)));
      this.drawn = true;
    } else if (Date.now() - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = Date.now();
      this.out.write(`${new Date().toISOString()} ${progressLine(p, this.retrying(p.batchId))}\n`);
    }
  }

  /** Prints a line above the live progress line (recent failures). */
  failure(line: string): void {
    if (this.isTty && this.drawn) writeControl(this.out, '\r\x1b[2K');
    this.out.write(`${line}\n`);
    this.drawn = false;
  }

  /** Ends the live line so following output starts on a fresh line. */
  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

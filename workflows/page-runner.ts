// The page's side of the runner protocol (workflows/runner-protocol.ts): what its runner activity
// may do (the `pageRunner` view), which acknowledgements wait for the runner, and what the runner
// last said it runs. The page stays the only writer of outcomes; this holds no item state of its own.
import { indexRanges, type RunnerReport, type RunnerView } from './runner-protocol';
import type { PageControl } from './messages';

export class RunnerLink {
  private version = 0;
  /** The version whose pause or reclaim the page acknowledges once the runner applied it. */
  private ackAt: number | undefined;
  private readonly cancels = new Set<string>();
  /** A runner activity is scheduled and has not ended. */
  active = false;
  /** The page is ending: the runner stops every item. */
  stopping = false;
  /** What the runner last reported. */
  running = 0;
  runningKeys: string[] = [];
  inflight = 0;
  need: { need: number; needKey?: string } | undefined;

  /**
   * The parent changed the page's control: true when the page may acknowledge a pause or reclaim at
   * once (no runner can start an item under the old control); else it waits for the runner's report.
   */
  controlChanged(before: PageControl, after: PageControl): boolean {
    this.version += 1;
    const owesAck =
      (after.paused && !before.paused) || (after.reclaim !== undefined && after.reclaim !== before.reclaim);
    if (!owesAck) return false;
    if (!this.active) return true;
    this.ackAt = this.version;
    return false;
  }

  /** An operator cancelled an item that has no outcome yet: the runner aborts or skips it. */
  cancel(key: string): void {
    this.cancels.add(key);
    this.version += 1;
  }

  /** The item has its outcome: nothing left to cancel. */
  finished(key: string): void {
    this.cancels.delete(key);
  }

  /** Takes the runner's report; true when the page owes the parent a report now (ack or need). */
  reported(r: RunnerReport): boolean {
    this.running = r.running;
    this.runningKeys = r.runningKeys;
    this.inflight = r.inflight ?? 0;
    this.need = r.need !== undefined ? { need: r.need, needKey: r.needKey } : undefined;
    if (this.ackAt !== undefined && r.applied >= this.ackAt) {
      this.ackAt = undefined;
      return true;
    }
    return this.need !== undefined;
  }

  /** The runner ended: nothing it runs any more, and an owed acknowledgement is due. */
  ended(): boolean {
    this.active = false;
    this.running = 0;
    this.runningKeys = [];
    this.inflight = 0;
    const owed = this.ackAt !== undefined;
    this.ackAt = undefined;
    return owed;
  }

  view(control: PageControl, spent: number, todo?: readonly number[]): RunnerView {
    const { token: _token, ...shown } = control;
    return {
      version: this.version,
      control: shown,
      spent,
      cancel: [...this.cancels],
      stopping: this.stopping,
      ...(todo ? { todo: indexRanges(todo) } : {}),
    };
  }
}

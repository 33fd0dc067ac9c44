// Pacing item starts at a rate. Pure (the clock is injected), so the page workflow (workflow time)
// and the runner activity (wall time) space their starts the same way.
import { workflowNow } from './clock';

/** Spaces starts at most `perSec` a second apart, in workflow time (`now` is injectable for tests). */
export class Pacer {
  private nextAt = 0;

  constructor(private readonly now: () => number = workflowNow) {}

  /**
   * Milliseconds to wait before the next start at `perSec` a second; 0 = go now (unpaced, or the start
   * is booked). The caller sleeps and asks again: what it waits for may have changed meanwhile.
   */
  reserve(perSec: number | undefined): number {
    if (!perSec) return 0;
    const now = this.now();
    const wait = this.nextAt - now;
    if (wait > 0) return wait;
    this.nextAt = now + 1000 / perSec;
    return 0;
  }
}

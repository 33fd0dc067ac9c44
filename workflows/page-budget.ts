// A page's side of the budget: it commits cost (spent + expected of its running items) only within
// the allowance the parent granted it, and every report says what it committed and, while its next
// item does not fit, what it needs.
import { expectedCostOr } from './cost';
import { COST_EPSILON } from './lanes/page-allowance';
import type { PageControl, PageCost } from './messages';
import type { CostPolicy, Item } from './types';

export class PageBudget {
  private readonly inflight = new Map<string, number>();

  constructor(
    private readonly policy: CostPolicy | undefined,
    private readonly control: () => PageControl,
    /** Cost already spent (a runner starts with what the page's recorded outcomes cost). */
    private spent = 0,
  ) {}

  /** Cost of the finished items. */
  get spentSoFar(): number {
    return this.spent;
  }

  private expected(item: Item): number {
    return expectedCostOr(item, this.policy, this.control().avgCost ?? 0);
  }

  private inflightTotal(): number {
    let total = 0;
    for (const c of this.inflight.values()) total += c;
    return total;
  }

  /** Whether starting `item` stays within the allowance (always, without a budget). */
  fits(item: Item): boolean {
    const allowance = this.control().costAllowance;
    return (
      allowance === undefined ||
      this.spent + this.inflightTotal() + this.expected(item) <= allowance + COST_EPSILON
    );
  }

  started(item: Item): void {
    if (this.control().costAllowance !== undefined) this.inflight.set(item.key, this.expected(item));
  }

  finished(key: string, cost: number | undefined): void {
    this.inflight.delete(key);
    this.spent += cost ?? 0;
  }

  /** The cost part of a report; `next` is the page's next item to start, if any. */
  report(next: Item | undefined): PageCost | undefined {
    if (this.control().costAllowance === undefined) return undefined;
    const waiting = next !== undefined && !this.fits(next);
    return {
      spent: this.spent,
      inflight: this.inflightTotal(),
      ...(waiting ? { need: this.expected(next), needKey: next.key } : {}),
    };
  }
}

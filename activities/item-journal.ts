// The step activity's side of the item journal (src/output-dir/item-journal.ts): one attempt's
// start, its failure, and the progress its processor reports, throttled. Best effort like the batch
// log: a line that cannot be written is dropped, never a reason to fail the item.
import { AppendFile } from '../src/logging/batch-log-file';
import { itemJournalFile, MAX_JOURNAL_ERROR, type JournalEntry } from '../src/output-dir/item-journal';
import type { Item } from '../workflows/types';

/** At most one progress line per item this often (the issue: about two a second). */
export const PROGRESS_INTERVAL_MS = 500;

/** Open journals by output directory; AppendFile closes an idle one's descriptor by itself. */
const journals = new Map<string, AppendFile>();
const MAX_OPEN_JOURNALS = 256;

function journalOf(outputDir: string): AppendFile {
  let file = journals.get(outputDir);
  if (!file) {
    if (journals.size >= MAX_OPEN_JOURNALS) {
      const [oldest, f] = journals.entries().next().value!;
      f.close();
      journals.delete(oldest);
    }
    file = new AppendFile(itemJournalFile(outputDir));
    journals.set(outputDir, file);
  }
  return file;
}

type Omitted = 'key' | 'index' | 'attempt' | 'step' | 'at';
type EntryBody = JournalEntry extends infer E ? (E extends JournalEntry ? Omit<E, Omitted> : never) : never;

export class AttemptJournal {
  private lastProgressAt = 0;
  private lastPercent: number | undefined;
  private pending: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly outputDir: string,
    private readonly item: Pick<Item, 'key' | 'index'>,
    private readonly attempt: number,
    private readonly step: string | undefined,
  ) {}

  /**
   * The attempt begins: `started` for the item's first attempt of its first step, `retrying` for a
   * later attempt of any step (a later step's first attempt is no transition of the item).
   */
  begin(firstStep: boolean): void {
    if (this.attempt > 1) this.write({ state: 'retrying' });
    else if (firstStep) this.write({ state: 'started' });
  }

  /** The attempt failed (not cancelled): its error, shown with the `retrying` that may follow. */
  failed(err: unknown): void {
    const e = err as { message?: unknown; type?: unknown; name?: unknown };
    const message = typeof e?.message === 'string' ? e.message : String(err);
    const type =
      typeof e?.type === 'string' && e.type ? e.type : typeof e?.name === 'string' ? e.name : 'Error';
    this.write({
      state: 'attempt-failed',
      error: message.replace(/\s+/g, ' ').slice(0, MAX_JOURNAL_ERROR),
      errorType: type.slice(0, 100),
    });
  }

  /** A processor's progress: a number from 0 to 100; more than one line per interval is coalesced. */
  progress(percent: unknown): void {
    if (this.ended || typeof percent !== 'number' || !Number.isFinite(percent)) return;
    const p = Math.round(Math.min(100, Math.max(0, percent)) * 10) / 10;
    const wait = this.lastProgressAt + PROGRESS_INTERVAL_MS - Date.now();
    if (wait <= 0) return this.writeProgress(p);
    this.pending = p;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.pending !== undefined && !this.ended) this.writeProgress(this.pending);
    }, wait);
    this.timer.unref();
  }

  /** The attempt is over: progress still waiting is dropped (the outcome says more). */
  end(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private writeProgress(p: number): void {
    this.pending = undefined;
    if (p === this.lastPercent) return;
    this.lastPercent = p;
    this.lastProgressAt = Date.now();
    this.write({ state: 'progress', percent: p });
  }

  private write(body: EntryBody): void {
    const entry = {
      key: this.item.key,
      index: this.item.index,
      attempt: this.attempt,
      ...(this.step !== undefined ? { step: this.step } : {}),
      at: new Date().toISOString(),
      ...body,
    };
    journalOf(this.outputDir).write(`${JSON.stringify(entry)}\n`);
  }
}

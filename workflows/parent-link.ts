// A child workflow's side of its link to the parent batch, the same for an item child and a page
// child: who its reports are from, which messages it takes as the parent's, and the wait for a retry
// when the workers cannot run items.
import {
  condition,
  getExternalWorkflowHandle,
  setHandler,
  workflowInfo,
  type SignalDefinition,
} from '@temporalio/workflow';
import {
  itemBlockedSignal,
  messageDescriptions,
  reportBySignalSignal,
  retryItemSignal,
  type ChildSender,
} from './messages';
import { fromParent, ignored } from './message-validation';

export interface ParentLinkInput {
  batchId: string;
  /** The parent's workflow id (no run id: a signal must reach whichever run is current). */
  parentWorkflowId: string;
  /** The token the parent gave this child (absent: a child started before tokens). */
  reportToken?: string;
}

/** The parent's messages to a child that carry nothing but the child's token. */
const BARE_MESSAGES = { retryItem: retryItemSignal, reportBySignal: reportBySignalSignal } as const;

export class ParentLink {
  /** Who a report is from: the parent takes it only from the child that holds the item, by token. */
  readonly sender: ChildSender & { childId: string };
  private readonly parent;
  private retryRequested = false;

  constructor(
    private readonly input: ParentLinkInput,
    /** What this child is to its parent ('item', 'page'), and what to log with an ignored message. */
    private readonly holder: string,
    private readonly logFields: Record<string, unknown>,
  ) {
    this.parent = getExternalWorkflowHandle(input.parentWorkflowId);
    this.sender = {
      childId: workflowInfo().workflowId,
      ...(input.reportToken !== undefined ? { token: input.reportToken } : {}),
    };
    this.handle('retryItem', () => {
      this.retryRequested = true;
    });
  }

  /** Whether `raw` carries this child's token: only its parent knows it; a forgery is logged. */
  fromParent(message: string, raw: unknown): boolean {
    if (fromParent(this.input.reportToken, raw)) return true;
    ignored(message, `not sent by the parent of this ${this.holder}`, this.logFields);
    return false;
  }

  /** Handles the parent's message `name`: `apply` when the parent sent it, else it is ignored. */
  handle(name: keyof typeof BARE_MESSAGES, apply: () => void): void {
    setHandler(
      BARE_MESSAGES[name],
      (raw?: unknown) => {
        if (this.fromParent(name, raw)) apply();
      },
      { description: messageDescriptions[name] },
    );
  }

  /**
   * Sends the parent this child's report `body`, with the sender added. Not async: the caller awaits
   * the signal itself, so its continuation runs at the same turn as when it signalled directly.
   */
  report<T extends ChildSender>(
    signal: SignalDefinition<[T]>,
    body: Omit<T, keyof ChildSender>,
  ): Promise<void> {
    return this.parent.signal(signal, { ...body, ...this.sender } as T);
  }

  /**
   * Tells the parent why no item can run (it pauses the batch) and waits for its `retryItem` after a
   * resume. A cancellation of the waiting scope ends the wait.
   */
  async waitForRetry(key: string, errorType: string, errorMessage: string): Promise<void> {
    this.retryRequested = false;
    await this.report(itemBlockedSignal, { key, errorType, errorMessage });
    await condition(() => this.retryRequested);
  }
}

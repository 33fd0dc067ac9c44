// Drives the Temporal Web UI (served by `temporal server start-dev`) in headless Chromium through
// playwright-core: the operator's steps of docs/web-ui.md, each one screenshot into test-artifacts/ui.
// Locators are roles and visible names wherever the UI has them; the few ids and test ids it offers
// instead are named here, in one place, so a UI upgrade that renames them breaks one line.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import type { BatchProgress } from '../../workflows/types';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const SHOTS_DIR = path.resolve('test-artifacts', 'ui');
export const DOCS_IMAGES_DIR = path.resolve('docs', 'images', 'web-ui');

/** Selectors without a role or accessible name in UI 2.x. */
const SELECTORS = {
  /** The `</>` toggle next to "Add Filter" that shows the raw query input. */
  toggleRawQuery: 'toggle-manual-query',
  /** The markdown of Current Details is rendered in its own iframe on the User Metadata tab. */
  currentDetailsFrame: 'iframe#user-metadata-current-details',
};

/** Generous: a 2-core machine runs other test files (and their workers) next to this one. */
const STEP_TIMEOUT_MS = 30_000;

export function chromiumInstalled(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export async function resetShots(): Promise<void> {
  await rm(SHOTS_DIR, { recursive: true, force: true });
  await mkdir(SHOTS_DIR, { recursive: true });
}

/** Copies every screenshot into docs/images/web-ui (DURABATCH_UPDATE_UI_DOCS=true). */
export async function copyShotsToDocs(): Promise<string[]> {
  await mkdir(DOCS_IMAGES_DIR, { recursive: true });
  const names = (await readdir(SHOTS_DIR)).filter((n) => n.endsWith('.png')).sort();
  for (const n of names) await copyFile(path.join(SHOTS_DIR, n), path.join(DOCS_IMAGES_DIR, n));
  return names;
}

/** Counts parsed from the Current Details markdown the batch workflow sets. */
/** What Current Details shows, parsed back into the progress fields it renders. */
export type DetailsCounts = Pick<
  BatchProgress,
  'status' | 'percent' | 'total' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'running' | 'pending'
> & { text: string };

/** `**running** · 65% of 40 items · ETA 88s` followed by the counts table, as the iframe renders it. */
export function parseCurrentDetails(text: string): DetailsCounts | undefined {
  const head = /(\w+)\s*·\s*([\d.]+)% of (\d+) items/.exec(text);
  const table =
    /succeeded\s+(\d+)\s*·\s*failed\s+(\d+)\s*·\s*skipped\s+(\d+)\s*·\s*cancelled\s+(\d+)\s*·\s*running\s+(\d+)\s*·\s*pending\s+(\d+)/.exec(
      text,
    );
  if (!head || !table) return undefined;
  const [succeeded, failed, skipped, cancelled, running, pending] = table.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return {
    status: head[1] as BatchProgress['status'],
    percent: Number(head[2]),
    total: Number(head[3]),
    succeeded,
    failed,
    skipped,
    cancelled,
    running,
    pending,
    text,
  };
}

export class WebUi {
  private shotNumber = 0;

  constructor(
    readonly page: Page,
    readonly base: string,
    readonly namespace = 'default',
  ) {
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS * 2);
  }

  /** Numbers the next screenshots from `n` (each test has its own range, so names stay stable). */
  numberShotsFrom(n: number): void {
    this.shotNumber = n - 1;
  }

  /** Saves `NN-name.png` into test-artifacts/ui. */
  async shot(name: string): Promise<string> {
    this.shotNumber += 1;
    const file = path.join(SHOTS_DIR, `${String(this.shotNumber).padStart(2, '0')}-${name}.png`);
    // Let the UI settle (spinners, toasts sliding in) so the picture shows what the step asserted.
    await this.page.waitForTimeout(300);
    // Scrolling a row into view also scrolls the (slightly too wide) page sideways: undo that.
    // (A string: the project's TypeScript has no DOM types.)
    await this.page.evaluate(
      "for (const el of document.querySelectorAll('*')) if (el.scrollLeft > 0) el.scrollLeft = 0",
    );
    await this.page.screenshot({ path: file });
    return file;
  }

  get main(): Locator {
    return this.page.getByRole('main');
  }

  workflowsUrl(query?: string): string {
    const list = `${this.base}/namespaces/${encodeURIComponent(this.namespace)}/workflows`;
    return query === undefined ? list : `${list}?query=${encodeURIComponent(query)}`;
  }

  workflowUrl(workflowId: string): string {
    return `${this.workflowsUrl()}/${encodeURIComponent(workflowId)}`;
  }

  /** Opens the workflow list and filters it by typing `query` into the raw query input. */
  async filterWorkflows(query: string): Promise<void> {
    await this.page.goto(this.workflowsUrl());
    await this.main.getByRole('button', { name: 'Add Filter' }).waitFor();
    const input = this.main.getByRole('searchbox', { name: 'Enter a query' });
    if (!(await input.isVisible())) await this.page.getByTestId(SELECTORS.toggleRawQuery).click();
    await input.fill(query);
    await this.main.getByRole('button', { name: 'Search' }).click();
    await this.page.waitForURL((url) => url.searchParams.get('query') === query);
  }

  /** The row link of a workflow in the list; refreshes the list until it shows (visibility lags). */
  async waitForListed(workflowId: string, timeoutMs = STEP_TIMEOUT_MS): Promise<Locator> {
    const link = this.main.getByRole('link', { name: workflowId, exact: true });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await link.first().waitFor({ timeout: 3_000 });
        return link.first();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await this.main.getByRole('button', { name: 'Refresh' }).click();
      }
    }
  }

  /** Opens a workflow's page (the UI resolves the latest run) and waits for its header. */
  async openWorkflow(workflowId: string): Promise<void> {
    await this.page.goto(this.workflowUrl(workflowId));
    await this.main.getByRole('heading', { level: 1, name: workflowId }).waitFor();
    await this.tab('Timeline').waitFor();
  }

  /** A tab of the workflow page, by the start of its name ("Event History 16" → "Event History"). */
  tab(name: string): Locator {
    return this.main.getByRole('tab', { name: new RegExp(`^${name}`) });
  }

  async openTab(name: string): Promise<void> {
    await this.tab(name).click();
    await this.main.getByRole('tab', { name: new RegExp(`^${name}`), selected: true }).waitFor();
  }

  /** The execution status badge in the header ("Running", "Canceled", …). */
  async status(): Promise<string> {
    return (await this.main.getByRole('status').first().innerText()).trim();
  }

  async waitForStatus(expected: RegExp, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await this.status().catch(() => '');
      if (expected.test(now)) return;
      if (Date.now() > deadline) throw new Error(`the status shown stayed "${now}", wanted ${expected}`);
      await this.page.waitForTimeout(2_000);
      await this.page.reload();
      await this.tab('Timeline').waitFor();
    }
  }

  /**
   * The text of Current Details (User Metadata tab), re-read until `ready` accepts it. The UI fetches
   * it once per tab visit ("Press R for freshness"), so each retry presses R.
   */
  async currentDetails(
    ready: (d: DetailsCounts) => boolean = () => true,
    timeoutMs = STEP_TIMEOUT_MS,
  ): Promise<DetailsCounts> {
    await this.openTab('User Metadata');
    await this.main.getByRole('heading', { name: 'Current Details' }).waitFor();
    const body = this.page.locator(SELECTORS.currentDetailsFrame).contentFrame().locator('body');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = await body.innerText().catch(() => '');
      const parsed = parseCurrentDetails(last);
      if (parsed && ready(parsed)) return parsed;
      if (Date.now() > deadline) throw new Error(`Current Details never matched; last read:\n${last}`);
      await this.page.waitForTimeout(1_000);
      await this.page.keyboard.press('r');
    }
  }

  /** Runs a query from the Queries tab; returns the JSON result as the UI shows it. */
  async runQuery(name: string): Promise<unknown> {
    await this.openTab('Queries');
    // The Query Type picker is a button wrapping a disabled textbox named "Query Type".
    const picker = this.main
      .getByRole('button')
      .filter({ has: this.page.getByRole('textbox', { name: 'Query Type' }) });
    await picker.click();
    await this.page.getByRole('option', { name: new RegExp(`^${name}\\b`) }).click();
    await this.main.getByRole('button', { name: /^(Run|Refresh) Query$/ }).click();
    const result = this.main.getByRole('textbox', { name: 'Query Result' });
    // The result editor renders only the lines in view; unformatted, the JSON is one (wrapped) line
    // and is read whole. Formatting is switched back on for the screenshot.
    const formatting = this.main.getByRole('switch', { name: 'JSON Formatting' });
    const toggleFormatting = () => this.main.getByText('JSON Formatting', { exact: true }).click();
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      if (await formatting.isChecked()) await toggleFormatting();
      const text = await result.innerText();
      try {
        const value = JSON.parse(text) as unknown;
        await toggleFormatting();
        return value;
      } catch {
        if (Date.now() > deadline) throw new Error(`query result is not JSON: ${text}`);
        await this.page.waitForTimeout(500);
      }
    }
  }

  private async openAction(menuItem: 'Send a Signal' | 'Send an Update'): Promise<Locator> {
    await this.main.getByRole('button', { name: 'More Actions' }).click();
    await this.page.getByRole('menuitem', { name: menuItem }).click();
    const dialog = this.page.getByRole('dialog', { name: menuItem });
    await dialog.waitFor();
    return dialog;
  }

  /** Fills the Signal or Update dialog; `shot` is taken before Submit. Returns the toast's text. */
  private async submitMessage(
    kind: 'Send a Signal' | 'Send an Update',
    name: string,
    data: string | undefined,
    shot?: string,
  ): Promise<string> {
    const dialog = await this.openAction(kind);
    await dialog
      .getByRole('button', { name: kind === 'Send a Signal' ? 'Select a signal' : 'Select an Update' })
      .click();
    await this.page.getByRole('option', { name: new RegExp(`^${name}\\b`) }).click();
    if (data !== undefined) {
      const editor = dialog.getByRole('textbox', { name: 'Data' });
      await editor.fill(data);
      const shown = (await editor.innerText()).trim();
      if (shown !== data) throw new Error(`the Data editor shows ${shown}, not ${data}`);
    }
    if (shot) await this.shot(shot);
    await dialog.getByRole('button', { name: 'Submit' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const toast = this.page.getByText(kind === 'Send a Signal' ? 'Workflow signaled.' : 'Update successful');
    await toast.first().waitFor();
    return toast.first().innerText();
  }

  sendSignal(name: string, data?: string, shot?: string): Promise<string> {
    return this.submitMessage('Send a Signal', name, data, shot);
  }

  sendUpdate(name: string, data: string, shot?: string): Promise<string> {
    return this.submitMessage('Send an Update', name, data, shot);
  }

  /** Presses "Request Cancellation" and confirms the "Cancel Workflow" dialog. */
  async requestCancellation(shot?: string): Promise<void> {
    await this.main.getByRole('button', { name: 'Request Cancellation' }).click();
    const dialog = this.page.getByRole('dialog', { name: 'Cancel Workflow' });
    await dialog.waitFor();
    if (shot) await this.shot(shot);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.waitFor({ state: 'hidden' });
  }
}

// The batch console (`durabatch serve`'s page at /) in headless Chromium through playwright-core,
// against the real service in-process and a worker on this file's task queue: 12 images dropped on
// the page start a batch with a command preset; one running item is cancelled from its row (its
// process is gone within 3 s); pause and resume; Cancel All ends the batch cancelled with exact
// counts; the ZIP downloads through the page. A 2,000-item batch streams into the queue without
// freezing the page.
// Screenshots go to test-artifacts/ui and, with DURABATCH_UPDATE_UI_DOCS=true, docs/images.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchEnd, controlRows, waitFor } from '../helpers/engine';
import { zipEntries } from '../helpers/files';
import { engineHarness, type EngineHarness } from '../helpers/harness';
import { startApiService, type ApiService } from '../helpers/api-service';
import { alive } from '../helpers/probe';
import { chromiumInstalled, CHROMIUM_PATH, launchChromium, SHOTS_DIR } from './web-ui-driver';

const onCi = process.env.CI === 'true';
const updateDocs = process.env.DURABATCH_UPDATE_UI_DOCS === 'true';
const FIXTURE = path.resolve('tests/fixtures/slow-convert.js');
const STEP_MS = 30_000;

/** A 1×1 PNG: the fixture copies images, so any valid image will do. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);
/** Sorted as the directory source reads them: the 4 fast ones run first (concurrency 3). */
const IMAGES = [
  ...Array.from({ length: 4 }, (_, i) => `scans/0${i + 1}-fast.png`),
  ...Array.from({ length: 8 }, (_, i) => `scans/${String(i + 5).padStart(2, '0')}-slow.png`),
];

/** Drops files on the console's drop zone through a DataTransfer built in the page. */
const DROP_SCRIPT = `(({ names, base64 }) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  for (const name of names) dt.items.add(new File([bytes], name, { type: 'image/png' }));
  const zone = document.getElementById('drop');
  zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
})`;

describe.skipIf(!chromiumInstalled() && !onCi)('the batch console', () => {
  let h: EngineHarness;
  let api: ApiService;
  let browser: Browser | undefined;
  let pidDir: string;

  beforeAll(async () => {
    h = await engineHarness('console');
    pidDir = path.join(h.ctx.dir, 'pids');
    api = await startApiService(
      h.ctx,
      {
        api: {
          presets: {
            'slow-convert': {
              description: 'copies each image slowly (a test fixture)',
              processor: 'command',
              command: { argv: ['node', FIXTURE, '{path}', '{documents}', pidDir, '${param:seconds}'] },
              concurrency: 3,
              params: { seconds: { type: 'number', default: 60, description: 'seconds per slow image' } },
            },
          },
        },
      },
      { console: ['read', 'operate', 'submit'] },
    );
    await mkdir(SHOTS_DIR, { recursive: true });
    if (chromiumInstalled()) browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await h?.close();
  });

  function requireBrowser(): Browser {
    if (browser) return browser;
    throw new Error(`Chromium is required on CI: ${CHROMIUM_PATH} is missing (.ci/run installs it)`);
  }

  /** A fresh page (its own sessionStorage) on the console at `hash`, the token typed into its form. */
  async function openConsole(hash = '#/'): Promise<Page> {
    const context = await requireBrowser().newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    // Refusals the page handles are logged by the browser all the same: the first 401 (it asks for
    // the token) and a 409 of a report still being written (it asks again).
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/status of 40[19]/.test(msg.text()))
        errors.push(`${msg.text()} (${msg.location().url})`);
    });
    (page as Page & { errors?: string[] }).errors = errors;
    await page.goto(`${api.url}/${hash}`);
    // The service has tokens: the first call is refused and the page asks for one.
    await page.locator('#token-form').waitFor({ state: 'visible' });
    await page.fill('#token-input', api.tokens.console!);
    await page.click('#token-form button[type="submit"]');
    await page.locator('#token-form').waitFor({ state: 'hidden' });
    return page;
  }

  const count = (page: Page, field: string) =>
    page.locator(`#batch-counts dd[data-field="${field}"]`).innerText().then(Number);

  async function shot(page: Page, name: string): Promise<void> {
    const file = path.join(SHOTS_DIR, `console-${name}.png`);
    await page.screenshot({ path: file });
    if (updateDocs) {
      await mkdir(path.resolve('docs/images'), { recursive: true });
      await copyFile(file, path.resolve('docs/images', `console-${name}.png`));
    }
  }

  it('starts a batch from 12 dropped images, cancels a running item and then all, and downloads the ZIP', async () => {
    const page = await openConsole('#/new');
    expect(await page.evaluate('sessionStorage.getItem("durabatch.token")')).toBe(api.tokens.console);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    const csp = (await page.request.get(`${api.url}/`)).headers()['content-security-policy'];
    expect(csp).toContain("default-src 'self'");

    await page.locator('#preset option[value="slow-convert"]').waitFor({ state: 'attached' });
    await page.evaluate(
      `${DROP_SCRIPT}(${JSON.stringify({ names: IMAGES, base64: PNG.toString('base64') })})`,
    );
    await expect.poll(() => page.locator('#picked').innerText()).toMatch(/^12 files/);
    await page.selectOption('#preset', 'slow-convert');
    await page.fill('[data-param="seconds"]', '120');
    await page.fill('#new-label', 'scans from the browser test');
    await page.click('#start');
    await page.waitForURL(/#\/batches\/.+/);
    const batchId = decodeURIComponent(new URL(page.url()).hash.replace('#/batches/', ''));
    h.batchIds.push(batchId);

    // The 4 fast images succeed; 3 slow ones run (the preset's concurrency), 5 wait.
    await expect.poll(() => count(page, 'succeeded'), { timeout: 60_000 }).toBe(4);
    await expect.poll(() => count(page, 'running'), { timeout: STEP_MS }).toBe(3);
    await expect.poll(() => page.locator('.row[data-state="running"]').count()).toBe(3);
    await shot(page, 'queue-running');

    // Cancel one running item from its row: its process is gone within 3 s.
    const row = page.locator('.row[data-state="running"]').first();
    const key = (await row.getAttribute('data-key'))!;
    const pid = Number(await readFile(path.join(pidDir, `${path.basename(key)}.pid`), 'utf8'));
    expect(alive(pid)).toBe(true);
    await row.getByRole('button', { name: `Cancel ${key}` }).click();
    const clicked = Date.now();
    await waitFor(`process ${pid} of ${key} to end`, () => !alive(pid), 3_000);
    expect(Date.now() - clicked).toBeLessThan(3_000);
    await expect
      .poll(() => page.locator(`.row[data-key="${key}"]`).getAttribute('data-state'))
      .toBe('cancelled');
    await expect.poll(() => count(page, 'cancelled')).toBe(1);

    // Pause and resume from the page: the batch says so, and the buttons swap.
    await page.click('#batch-pause');
    await expect.poll(() => page.locator('#batch-status').innerText()).toBe('paused');
    await page.locator('#batch-pause').waitFor({ state: 'hidden' });
    await page.click('#batch-resume');
    await expect.poll(() => page.locator('#batch-status').innerText()).toBe('running');
    await page.locator('#batch-resume').waitFor({ state: 'hidden' });

    // Cancel All: every item not ended is cancelled, the batch ends cancelled.
    page.once('dialog', (d) => void d.accept());
    await page.click('#batch-cancel');
    await page.locator('#summary').waitFor({ state: 'visible', timeout: 60_000 });
    expect(await page.locator('#batch-status').innerText()).toBe('cancelled');
    expect(
      await Promise.all(
        ['total', 'succeeded', 'failed', 'cancelled', 'running', 'pending'].map((f) => count(page, f)),
      ),
    ).toEqual([12, 4, 0, 8, 0, 0]);
    const status = await api.call('GET', `/v1/batches/${batchId}`, { token: api.tokens.console });
    expect(status.body).toMatchObject({
      status: 'cancelled',
      total: 12,
      succeeded: 4,
      failed: 0,
      cancelled: 8,
    });
    // No conversion outlives the batch.
    const pids = await Promise.all(
      IMAGES.filter((n) => n.includes('slow')).map((n) =>
        readFile(path.join(pidDir, `${path.basename(n)}.pid`), 'utf8').then(Number, () => 0),
      ),
    );
    await waitFor('every slow conversion to end', () => pids.every((p) => !p || !alive(p)), 10_000);
    // Every row shows its final state, those of items that never started included.
    await expect.poll(() => page.locator('.row[data-state="cancelled"]').count()).toBe(8);
    expect(await page.locator('.row[data-state="succeeded"]').count()).toBe(4);
    expect(await page.locator('.row[data-state="cancelled"] button:visible').count()).toBe(0);
    await page.locator('#notice').waitFor({ state: 'hidden' });
    expect(await page.locator('#retry-failed').isHidden()).toBe(true); // nothing failed
    expect(await page.locator('#batch-webui').getAttribute('href')).toContain(encodeURIComponent(batchId));
    await shot(page, 'summary');

    // The ZIP downloads through the page (fetch with the token, saved from a blob URL).
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('button[data-download="archive"]'),
    ]);
    expect(download.suggestedFilename()).toBe(`${batchId}.zip`);
    const zip = path.join(h.ctx.dir, 'console.zip');
    await download.saveAs(zip);
    const entries = await zipEntries(zip);
    expect(entries.filter((e) => /^documents\/.*-fast\.png$/.test(e))).toHaveLength(4);

    // The list of batches shows it, ended; its link opens it again.
    await page.click('nav a[href="#/"]');
    const listed = page.locator('#list-rows tr', {
      has: page.getByRole('link', { name: batchId, exact: true }),
    });
    await expect.poll(() => listed.locator('td.status').innerText()).toBe('cancelled');
    expect(await listed.locator('td').nth(1).innerText()).toBe('scans from the browser test');
    await shot(page, 'batches');
    await listed.getByRole('link', { name: batchId, exact: true }).click();
    await expect.poll(() => page.locator('#batch-title').innerText()).toBe(batchId);
    await page.locator('#summary').waitFor({ state: 'visible' });

    expect(((page as Page & { errors?: string[] }).errors ?? []).join('\n')).toBe('');
    await page.context().close();
  });

  it('keeps a chosen folder’s relative paths and shows the preset’s parameters', async () => {
    const folder = path.join(h.ctx.dir, 'pick', 'albums');
    await mkdir(path.join(folder, 'summer', 'beach'), { recursive: true });
    await writeFile(path.join(folder, 'cover.png'), PNG);
    await writeFile(path.join(folder, 'summer', 'beach', 'a.png'), PNG);
    const page = await openConsole('#/new');
    await page.locator('#pick-folder').setInputFiles(folder);
    await expect.poll(() => page.locator('#picked').innerText()).toBe(`2 files, ${PNG.length * 2} B`);
    expect((await page.locator('#picked-list li').allInnerTexts()).sort()).toEqual([
      'albums/cover.png',
      'albums/summer/beach/a.png',
    ]);
    // The preset's parameter, with its default and description, from GET /v1/presets.
    await page.selectOption('#preset', 'slow-convert');
    expect(await page.locator('[data-param="seconds"]').inputValue()).toBe('60');
    expect(await page.locator('#preset-params').innerText()).toContain('seconds per slow image');
    await page.click('#picked-clear');
    expect(await page.locator('#picked').innerText()).toBe('No files chosen.');
    await page.context().close();
  });

  it('shows a 2,000-item batch live without freezing, rendering only the visible rows', async () => {
    const b = await h.start(
      'console-big',
      controlRows(2_000, () => ({ delayMs: 200 })),
      { concurrency: 50 },
    );
    try {
      const page = await openConsole(`#/batches/${encodeURIComponent(b.batchId)}`);
      await expect
        .poll(() => page.locator('#shown').innerText(), { timeout: 60_000 })
        .toBe('2000 of 2000 items');
      // While events stream in, the page answers a round trip at once, and holds a screenful of rows.
      const before = await count(page, 'succeeded');
      const slowest: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = Date.now();
        await page.evaluate('document.querySelectorAll(".row").length');
        slowest.push(Date.now() - t0);
        await page.waitForTimeout(300);
      }
      console.log(`console round trips while 2,000 items stream: ${slowest.join(', ')} ms`);
      expect(Math.max(...slowest)).toBeLessThan(1_000);
      await expect.poll(() => count(page, 'succeeded'), { timeout: STEP_MS }).toBeGreaterThan(before);
      const rows = Number(await page.evaluate('document.querySelectorAll(".row:not([hidden])").length'));
      expect(rows).toBeGreaterThan(10);
      expect(rows).toBeLessThan(100);
      await shot(page, 'large-batch');
      // Scrolled to the end, the last item is drawn (and still no more rows exist).
      await page.evaluate('document.getElementById("queue").scrollTop = 1e9');
      await page.locator('.row[data-key="K2000"]').waitFor({ state: 'visible' });
      expect(Number(await page.evaluate('document.querySelectorAll(".row").length'))).toBeLessThan(100);
      await page.context().close();
    } finally {
      await h.ctx.batches.cancel(b.batchId);
      expect(await batchEnd(b.handle)).toEqual({ kind: 'cancelled' });
    }
  });
});

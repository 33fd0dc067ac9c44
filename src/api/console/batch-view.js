// One batch: its counts, its queue (items pages + the events stream applied to one model, drawn at
// most four times a second), the controls (pause, resume, Cancel All, cancel one item) and, once it
// has ended, its summary and downloads.
import { authHeaders, call, download, seg } from './api.js';
import { followEvents } from './sse.js';
import { QueueModel } from './queue-model.js';
import { formatMs, QueueView } from './queue-view.js';

const $ = (id) => document.getElementById(id);
const ENDED = new Set(['completed', 'partial_failure', 'failed', 'cancelled']);
const RENDER_EVERY_MS = 250;
const PAGE = 500;

/** The status fields shown as counts, in this order (they add up to total). */
const COUNTS = ['total', 'succeeded', 'failed', 'cancelled', 'skipped', 'running', 'pending'];

/** Fills a <dl> with [label, value] pairs (values as text). */
export function fillList(dl, pairs) {
  const nodes = [];
  for (const [label, value] of pairs) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.dataset.field = label;
    dd.textContent = String(value);
    nodes.push(dt, dd);
  }
  dl.replaceChildren(...nodes);
}

export class BatchView {
  constructor(notify, openBatch) {
    this.notify = notify;
    this.openBatch = openBatch;
    this.session = undefined;
    this.view = new QueueView($('queue'), $('queue-space'), (key) => this.cancelItem(key));
    for (const id of ['filter-state', 'sort']) $(id).addEventListener('change', () => this.render(true));
    $('filter-key').addEventListener('input', () => this.render(true));
    $('batch-pause').addEventListener('click', () => this.operate('pause'));
    $('batch-resume').addEventListener('click', () => this.operate('resume'));
    $('retry-failed').addEventListener('click', () => void this.retryFailed());
    $('batch-cancel').addEventListener('click', () => {
      if (this.session && confirm(`Cancel every item of ${this.session.batchId} that has not ended?`))
        this.operate('cancel');
    });
  }

  open(batchId) {
    this.close();
    const s = {
      batchId,
      base: `/v1/batches/${seg(batchId)}`,
      model: new QueueModel(),
      status: undefined,
      stream: undefined,
      timer: 0,
      poll: 0,
      lastRender: 0,
      closed: false,
      summaryShown: false,
    };
    this.session = s;
    $('batch-title').textContent = batchId;
    $('batch-status').textContent = '';
    $('batch-live').textContent = '';
    $('summary').hidden = true;
    $('retry-failed').hidden = true;
    $('batch-webui').hidden = true;
    $('downloads').replaceChildren();
    $('queue').scrollTop = 0;
    this.view.cancelling.clear();
    this.render(true);
    void this.start(s);
  }

  close() {
    const s = this.session;
    if (!s) return;
    s.closed = true;
    s.stream?.stop();
    clearTimeout(s.timer);
    clearTimeout(s.poll);
    this.session = undefined;
  }

  async start(s) {
    try {
      this.showStatus(await call('GET', s.base));
    } catch (err) {
      this.notify(err);
      return;
    }
    if (s.closed) return;
    s.stream = followEvents(`${s.base}/events`, {
      headers: () => authHeaders(),
      onEvent: (e) => this.onEvent(s, e),
      onState: (state, detail) => {
        if (s.closed) return;
        $('batch-live').textContent =
          state === 'open' ? '● live' : state === 'reconnecting' ? 'reconnecting…' : '';
        if (state === 'failed') {
          this.notify(new Error(detail?.problem?.detail ?? `events: HTTP ${detail?.status}`));
          this.pollStatus(s);
        }
      },
    });
    await this.loadItems(s);
  }

  /** Without the events stream, the counts are asked for every 2 s until the batch ends. */
  pollStatus(s) {
    const tick = async () => {
      if (s.closed || (s.status && ENDED.has(s.status.status))) return;
      try {
        this.showStatus(await call('GET', s.base));
      } catch {
        // the next tick asks again
      }
      if (!s.closed) s.poll = setTimeout(() => void tick(), 2_000);
    };
    s.poll = setTimeout(() => void tick(), 2_000);
  }

  /** Every page of items, drawn as each arrives. */
  async loadItems(s) {
    let cursor = '';
    let limit = PAGE;
    for (;;) {
      const q = new URLSearchParams();
      if (limit) q.set('limit', String(limit));
      if (cursor) q.set('cursor', cursor);
      let page;
      try {
        page = await call('GET', `${s.base}/items?${q}`);
      } catch (err) {
        // A service with a smaller page size than ours: take its default.
        if (err.status === 400 && limit) {
          limit = 0;
          continue;
        }
        if (!s.closed) this.notify(err);
        return;
      }
      if (s.closed) return;
      for (const item of page?.items ?? []) s.model.mergeItem(item);
      this.render();
      cursor = page?.nextCursor ?? '';
      if (!cursor) return;
    }
  }

  onEvent(s, e) {
    if (s.closed) return;
    if (e.type === 'item') s.model.applyItemEvent(e.data);
    else if (e.type === 'progress') s.model.applyProgress(e.data);
    else if (e.type === 'counts' || e.type === 'end') this.showStatus(e.data);
    this.render();
  }

  showStatus(status) {
    const s = this.session;
    if (!s || !status || typeof status !== 'object') return;
    s.status = status;
    const el = $('batch-status');
    el.textContent = status.status;
    el.className = `status status-${status.status}`;
    $('batch-progress').value = Number(status.percent) || 0;
    fillList($('batch-counts'), [
      ...COUNTS.map((field) => [field, status[field] ?? 0]),
      ['percent', `${Math.floor(Number(status.percent) || 0)}%`],
      ['items/min', Math.round(Number(status.throughputPerMinute) || 0)],
      ['ETA', typeof status.etaSeconds === 'number' ? `${Math.round(status.etaSeconds)} s` : '—'],
    ]);
    // The Temporal Web UI's page of the batch, when the service knows one (an http(s) link only).
    const webUi = $('batch-webui');
    if (typeof status.webUiUrl === 'string' && /^https?:\/\//.test(status.webUiUrl)) {
      webUi.href = status.webUiUrl;
      webUi.hidden = false;
    }
    const ended = ENDED.has(status.status);
    $('batch-pause').hidden = ended || status.status === 'paused';
    $('batch-resume').hidden = ended || status.status !== 'paused';
    $('batch-cancel').hidden = ended || status.status === 'cancelling';
    if (ended && !s.summaryShown) {
      s.summaryShown = true;
      void this.showSummary(s);
    }
  }

  /** Re-draws the queue, at most every RENDER_EVERY_MS unless `now`. */
  render(now = false) {
    const s = this.session;
    if (!s) {
      this.view.show([]);
      return;
    }
    const wait = RENDER_EVERY_MS - (Date.now() - s.lastRender);
    if (!now && wait > 0) {
      if (!s.timer) s.timer = setTimeout(() => ((s.timer = 0), this.render(true)), wait);
      return;
    }
    clearTimeout(s.timer);
    s.timer = 0;
    s.lastRender = Date.now();
    const list = s.model.list({
      state: $('filter-state').value,
      key: $('filter-key').value,
      sort: $('sort').value,
    });
    this.view.show(list);
    $('shown').textContent = `${list.length} of ${s.model.rows.size} items`;
  }

  async operate(action) {
    const s = this.session;
    if (!s) return;
    try {
      const answer = await call('POST', `${s.base}/${action}`);
      if (answer?.status && s.status) this.showStatus({ ...s.status, status: answer.status });
    } catch (err) {
      this.notify(err);
    }
  }

  async cancelItem(key) {
    const s = this.session;
    if (!s) return;
    try {
      const answer = await call('POST', `${s.base}/items/${seg(key)}/cancel`);
      if (answer?.outcome) this.notify(`${key}: ${answer.outcome}`, 'info', 3_000);
    } catch (err) {
      this.view.cancelling.delete(key);
      this.render(true);
      this.notify(err);
    }
  }

  /** A new batch of exactly the failed items, opened at once. */
  async retryFailed() {
    const s = this.session;
    if (!s) return;
    try {
      const answer = await call('POST', `${s.base}/retry-failed`);
      if (answer?.batchId) this.openBatch(answer.batchId);
    } catch (err) {
      this.notify(err);
    }
  }

  async showSummary(s) {
    let report;
    try {
      report = await call('GET', `${s.base}/report`);
    } catch (err) {
      // The report is written just after the batch ends: ask again shortly.
      if (err.status === 404 || err.status === 409 || err.status === 503) {
        s.summaryShown = false;
        setTimeout(() => !s.closed && s.status && this.showStatus(s.status), 1_000);
      } else this.notify(err);
      return;
    }
    if (s.closed) return;
    // Items that never started end without an event of their own: the written report is the
    // moment every item's final state can be read.
    void this.loadItems(s);
    const st = s.status ?? {};
    const num = (v) => (typeof v === 'number' ? v : 0);
    fillList($('summary-fields'), [
      ['status', report?.status ?? st.status],
      ['total', report?.total ?? st.total],
      ['succeeded', report?.succeeded ?? st.succeeded],
      ['failed', report?.failed ?? st.failed],
      ['cancelled', report?.cancelled ?? st.cancelled],
      ['skipped', report?.skipped ?? st.skipped],
      ['p95 latency', formatMs(report?.latencyMs?.p95 ?? st.latencyMs?.p95)],
      ['cost', num(report?.cost ?? st.cost)],
    ]);
    const files = report?.files ?? {};
    const names = {
      resultsCsv: ['results.csv', `${s.batchId}-results.csv`],
      failedCsv: ['failed.csv', `${s.batchId}-failed.csv`],
      resultsXlsx: ['results.xlsx', `${s.batchId}-results.xlsx`],
      archive: ['archive.zip', `${s.batchId}.zip`],
    };
    const buttons = [];
    for (const [field, [label, filename]] of Object.entries(names)) {
      const link = files[field];
      if (typeof link !== 'string') continue;
      // Only the service's own downloads: a link elsewhere would receive the token.
      const url = new URL(link, location.href);
      if (url.origin !== location.origin) continue;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary';
      button.dataset.download = field;
      button.textContent = `Download ${label}`;
      button.addEventListener('click', () => {
        button.disabled = true;
        download(url.pathname + url.search, filename)
          .catch((err) => this.notify(err))
          .finally(() => (button.disabled = false));
      });
      buttons.push(button);
    }
    $('downloads').replaceChildren(...buttons);
    $('retry-failed').hidden = !(Number(report?.failed ?? st.failed) > 0);
    $('summary').hidden = false;
  }
}

// The list of batches, newest first, with filters and cursor pages; refreshed every 5 s while shown.
import { call, seg } from './api.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5_000;

function td(text, cls) {
  const cell = document.createElement('td');
  if (cls) cell.className = cls;
  if (text !== undefined) cell.textContent = text;
  return cell;
}

function rowOf(batch) {
  const tr = document.createElement('tr');
  const id = String(batch.batchId ?? '');
  const link = document.createElement('a');
  link.href = `#/batches/${seg(id)}`;
  link.textContent = id;
  const idCell = td(undefined, 'key');
  idCell.append(link);
  const status = td(batch.status ?? '', `status status-${batch.status}`);
  const bar = document.createElement('progress');
  bar.max = 100;
  bar.value = Number(batch.percent) || 0;
  const progress = td(undefined, 'progress');
  progress.append(bar, ` ${Math.floor(Number(batch.percent) || 0)}%`);
  const started = batch.startedAt ? new Date(batch.startedAt).toLocaleString() : '';
  tr.append(
    idCell,
    td(batch.label ?? ''),
    status,
    progress,
    td(String(batch.total ?? ''), 'num'),
    td(started),
  );
  return tr;
}

export class ListView {
  constructor(notify) {
    this.notify = notify;
    this.timer = 0;
    this.cursor = null;
    this.active = false;
    $('list-refresh').addEventListener('click', () => this.load());
    $('list-status').addEventListener('change', () => this.load());
    $('list-label').addEventListener('change', () => this.load());
    $('list-more').addEventListener('click', () => this.load(this.cursor));
  }

  open() {
    this.active = true;
    void this.load();
  }

  close() {
    this.active = false;
    clearTimeout(this.timer);
  }

  async load(cursor = null) {
    clearTimeout(this.timer);
    const q = new URLSearchParams({ limit: '50' });
    if ($('list-status').value) q.set('status', $('list-status').value);
    if ($('list-label').value) q.set('label', $('list-label').value);
    if (cursor) q.set('cursor', cursor);
    try {
      const page = await call('GET', `/v1/batches?${q}`);
      if (!this.active) return;
      const rows = (page?.batches ?? []).map(rowOf);
      if (cursor) $('list-rows').append(...rows);
      else $('list-rows').replaceChildren(...rows);
      this.cursor = page?.nextCursor ?? null;
      $('list-more').hidden = !this.cursor;
      $('list-empty').hidden = $('list-rows').childElementCount > 0;
    } catch (err) {
      this.notify(err);
    }
    // Only the first page refreshes itself: the pages after it would shift under the reader.
    if (this.active && !cursor) this.timer = setTimeout(() => this.active && this.load(), REFRESH_MS);
  }
}

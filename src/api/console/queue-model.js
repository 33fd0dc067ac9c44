// One batch's items as the console knows them: rows from the items pages merged with the events
// stream, in whichever order they arrive. A row never goes back in its life (an old page cannot undo
// a newer event), and the filtered, sorted list is recomputed only when something changed.

export const STATES = ['pending', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'skipped'];
/** States in which an item can still be cancelled. */
export const ACTIVE = new Set(['pending', 'running', 'retrying']);

const RANK = { pending: 0, running: 1, retrying: 1, succeeded: 2, failed: 2, cancelled: 2, skipped: 2 };
/** An `item` event's transition → the row's state. */
const EVENT_STATE = {
  started: 'running',
  retrying: 'retrying',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  skipped: 'skipped',
};

const SORTS = {
  index: (a, b) => a.index - b.index,
  key: (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index),
  state: (a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state) || a.index - b.index,
  attempts: (a, b) => b.attempts - a.attempts || a.index - b.index,
  latency: (a, b) => (b.latencyMs ?? -1) - (a.latencyMs ?? -1) || a.index - b.index,
};

export class QueueModel {
  constructor() {
    /** key → row */
    this.rows = new Map();
    /** Bumped on every change, so views know when to recompute. */
    this.version = 0;
    this.cache = { version: -1, filterKey: '', list: [] };
  }

  row(key, index) {
    let row = this.rows.get(key);
    if (!row) {
      row = { key, index: index ?? this.rows.size, state: 'pending', attempts: 0, outputFiles: [] };
      this.rows.set(key, row);
    } else if (typeof index === 'number') row.index = index;
    return row;
  }

  /** An item from GET …/items. */
  mergeItem(item) {
    if (typeof item?.key !== 'string') return;
    const row = this.row(item.key, item.index);
    const state = STATES.includes(item.state) ? item.state : row.state;
    if (RANK[state] >= RANK[row.state]) row.state = state;
    row.attempts = Math.max(row.attempts, Number(item.attempts) || 0);
    for (const f of ['latencyMs', 'error', 'errorType', 'startedAt', 'endedAt']) {
      if (item[f] !== undefined && item[f] !== null) row[f] = item[f];
    }
    if (typeof item.progress === 'number') row.progress = item.progress;
    if (Array.isArray(item.outputFiles)) row.outputFiles = item.outputFiles;
    this.version++;
  }

  /** An `item` event: `{ key, index?, state, attempt?, error?, errorType?, latencyMs? }`. */
  applyItemEvent(event) {
    const state = EVENT_STATE[event?.state];
    if (typeof event?.key !== 'string' || !state) return;
    const row = this.row(event.key, event.index);
    row.state = state;
    if (typeof event.attempt === 'number') row.attempts = Math.max(row.attempts, event.attempt);
    else if (state === 'running') row.attempts = Math.max(row.attempts, 1);
    if (typeof event.latencyMs === 'number') row.latencyMs = event.latencyMs;
    if (event.error !== undefined) row.error = event.error;
    if (event.errorType !== undefined) row.errorType = event.errorType;
    if (state === 'succeeded') row.progress = row.progress === undefined ? undefined : 100;
    this.version++;
  }

  /** A `progress` event: `{ key, percent }`. */
  applyProgress(event) {
    if (typeof event?.key !== 'string' || typeof event.percent !== 'number') return;
    const row = this.row(event.key);
    row.progress = Math.max(0, Math.min(100, event.percent));
    this.version++;
  }

  /** The rows to show: `state` ('' = all), `key` (substring), `sort` (a SORTS name). */
  list({ state = '', key = '', sort = 'index' } = {}) {
    const filterKey = `${state}\u0000${key}\u0000${sort}`;
    if (this.cache.version === this.version && this.cache.filterKey === filterKey) return this.cache.list;
    const needle = key.toLowerCase();
    const list = [];
    for (const row of this.rows.values()) {
      if (state && row.state !== state) continue;
      if (needle && !row.key.toLowerCase().includes(needle)) continue;
      list.push(row);
    }
    list.sort(SORTS[sort] ?? SORTS.index);
    this.cache = { version: this.version, filterKey, list };
    return list;
  }
}

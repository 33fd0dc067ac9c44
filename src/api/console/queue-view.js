// The queue's rows, virtualised: only the rows in (and just around) the visible part of the scroll
// box exist in the DOM, reused as it scrolls, so a batch of any size costs a few dozen elements.
// Item text (keys, errors) is set as textContent only: it comes from the batch's input.
import { ACTIVE } from './queue-model.js';

export const ROW_HEIGHT = 36;
const OVERSCAN = 8;

function cell(cls) {
  const span = document.createElement('span');
  span.className = cls;
  return span;
}

function makeRow() {
  const el = document.createElement('div');
  el.className = 'row';
  el.setAttribute('role', 'row');
  const key = cell('key');
  const keyText = document.createElement('span');
  const error = document.createElement('small');
  error.className = 'error';
  key.append(keyText, error);
  const state = cell('state');
  const attempts = cell('num');
  const latency = cell('num');
  const progressCell = cell('progress');
  const progress = document.createElement('progress');
  progress.max = 100;
  progressCell.append(progress);
  const actions = cell('actions');
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'small danger';
  cancel.dataset.action = 'cancel';
  cancel.textContent = 'Cancel';
  actions.append(cancel);
  el.append(key, state, attempts, latency, progressCell, actions);
  return { el, keyText, error, state, attempts, latency, progress, cancel };
}

const setText = (el, text) => {
  if (el.textContent !== text) el.textContent = text;
};

export function formatMs(ms) {
  if (typeof ms !== 'number') return '';
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

export class QueueView {
  /**
   * `box`: the scroll container; `space`: its child sized to every row; `onCancel(key)` for a row's
   * cancel button.
   */
  constructor(box, space, onCancel) {
    this.box = box;
    this.space = space;
    this.list = [];
    this.pool = [];
    /** Keys whose cancel was asked for (the button stays disabled until the item ends). */
    this.cancelling = new Set();
    box.addEventListener('scroll', () => this.scheduleWindow(), { passive: true });
    box.addEventListener('click', (e) => {
      const button = e.target instanceof Element ? e.target.closest('button[data-action="cancel"]') : null;
      const row = button?.closest('.row');
      if (!button || !row || button.disabled) return;
      const key = row.dataset.key;
      this.cancelling.add(key);
      button.disabled = true;
      onCancel(key);
    });
    this.frame = 0;
  }

  /** Shows `list` (rows of the model, already filtered and sorted). */
  show(list) {
    this.list = list;
    this.space.style.height = `${list.length * ROW_HEIGHT}px`;
    this.renderWindow();
  }

  scheduleWindow() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderWindow();
    });
  }

  renderWindow() {
    const top = this.box.scrollTop;
    const height = this.box.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.list.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const needed = Math.max(0, last - first);
    while (this.pool.length < needed) {
      const r = makeRow();
      this.space.append(r.el);
      this.pool.push(r);
    }
    for (let i = 0; i < this.pool.length; i++) {
      const r = this.pool[i];
      const item = i < needed ? this.list[first + i] : undefined;
      if (!item) {
        r.el.hidden = true;
        continue;
      }
      r.el.hidden = false;
      r.el.style.transform = `translateY(${(first + i) * ROW_HEIGHT}px)`;
      r.el.dataset.key = item.key;
      r.el.dataset.state = item.state;
      setText(r.keyText, item.key);
      setText(r.error, item.error ? `${item.errorType ? `${item.errorType}: ` : ''}${item.error}` : '');
      r.el.title = item.error ?? '';
      setText(r.state, item.state);
      r.state.className = `state state-${item.state}`;
      setText(r.attempts, item.attempts ? String(item.attempts) : '');
      setText(r.latency, formatMs(item.latencyMs));
      const hasProgress = typeof item.progress === 'number';
      r.progress.hidden = !hasProgress;
      if (hasProgress) r.progress.value = item.progress;
      const active = ACTIVE.has(item.state);
      if (!active) this.cancelling.delete(item.key);
      r.cancel.hidden = !active;
      r.cancel.disabled = this.cancelling.has(item.key);
      r.cancel.setAttribute('aria-label', `Cancel ${item.key}`);
    }
  }
}

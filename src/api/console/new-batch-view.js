// Starting a batch from files: drop files or whole folders (read through webkitGetAsEntry, keeping
// each file's relative path as its multipart filename) or pick them, choose a preset and fill in its
// parameters, then Start sends one multipart POST /v1/batches and opens the new batch.
import { call } from './api.js';

const $ = (id) => document.getElementById(id);
const SHOW_FILES = 20;

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** Every file under a FileSystemEntry, with its path relative to the drop. */
async function filesOfEntry(entry, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\/+/, '') || file.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    // readEntries answers in batches (100 in Chromium) until it answers none.
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await filesOfEntry(child, out);
    }
  }
}

/** The files of a drop: entries must be taken during the event, read afterwards. */
export async function filesOfDrop(dataTransfer) {
  const entries = [];
  const plain = [];
  for (const item of dataTransfer.items ?? []) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const file = item.getAsFile();
      if (file) plain.push({ file, path: file.webkitRelativePath || file.name });
    }
  }
  if (entries.length === 0 && plain.length === 0)
    for (const file of dataTransfer.files ?? []) plain.push({ file, path: file.name });
  const out = [...plain];
  for (const entry of entries) await filesOfEntry(entry, out);
  return out;
}

function paramInput(name, spec) {
  let input;
  if (Array.isArray(spec.enum)) {
    input = document.createElement('select');
    for (const v of spec.enum) {
      const option = document.createElement('option');
      option.value = String(v);
      option.textContent = String(v);
      input.append(option);
    }
    if (spec.default !== undefined) input.value = String(spec.default);
  } else if (spec.type === 'boolean') {
    input = document.createElement('input');
    input.type = 'checkbox';
    input.checked = spec.default === true;
  } else {
    input = document.createElement('input');
    input.type = spec.type === 'number' ? 'number' : 'text';
    if (spec.type === 'number') input.step = 'any';
    if (spec.default !== undefined) input.value = String(spec.default);
    else if (spec.required !== false) input.required = true;
  }
  input.dataset.param = name;
  input.dataset.type = spec.type ?? 'string';
  const label = document.createElement('label');
  label.append(`${name} `, input);
  if (spec.description) {
    const hint = document.createElement('small');
    hint.textContent = spec.description;
    label.append(hint);
  }
  return label;
}

export class NewBatchView {
  constructor(notify, openBatch) {
    this.notify = notify;
    this.openBatch = openBatch;
    /** [{ file, path }] */
    this.files = [];
    this.presets = [];
    const drop = $('drop');
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    // From the keyboard, the drop zone opens the file picker.
    drop.addEventListener('keydown', (e) => {
      if (e.target !== drop || (e.key !== 'Enter' && e.key !== ' ')) return;
      e.preventDefault();
      $('pick-files').click();
    });
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      filesOfDrop(e.dataTransfer)
        .then((files) => this.add(files))
        .catch((err) => this.notify(err));
    });
    for (const id of ['pick-files', 'pick-folder']) {
      $(id).addEventListener('change', (e) => {
        const picked = [...e.target.files].map((file) => ({
          file,
          path: file.webkitRelativePath || file.name,
        }));
        this.add(picked);
        e.target.value = '';
      });
    }
    $('picked-clear').addEventListener('click', () => {
      this.files = [];
      this.showFiles();
    });
    $('preset').addEventListener('change', () => this.showParams());
    $('new-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.start();
    });
  }

  async open() {
    try {
      const answer = await call('GET', '/v1/presets');
      this.presets = answer?.presets ?? [];
    } catch (err) {
      this.notify(err);
      this.presets = [];
    }
    const select = $('preset');
    const previous = select.value;
    select.replaceChildren(
      ...this.presets.map((p) => {
        const option = document.createElement('option');
        option.value = p.name;
        option.textContent = p.description ? `${p.name} — ${p.description}` : p.name;
        return option;
      }),
    );
    if (this.presets.some((p) => p.name === previous)) select.value = previous;
    this.showParams();
    this.showFiles();
  }

  close() {}

  add(files) {
    // A file dropped twice (same relative path) is kept once: the newer copy wins.
    const byPath = new Map(this.files.map((f) => [f.path, f]));
    for (const f of files) byPath.set(f.path, f);
    this.files = [...byPath.values()];
    this.showFiles();
  }

  showFiles() {
    const bytes = this.files.reduce((n, f) => n + f.file.size, 0);
    $('picked').textContent = this.files.length
      ? `${this.files.length} file${this.files.length === 1 ? '' : 's'}, ${formatBytes(bytes)}`
      : 'No files chosen.';
    const items = this.files.slice(0, SHOW_FILES).map((f) => {
      const li = document.createElement('li');
      li.textContent = f.path;
      return li;
    });
    if (this.files.length > SHOW_FILES) {
      const li = document.createElement('li');
      li.textContent = `… and ${this.files.length - SHOW_FILES} more`;
      items.push(li);
    }
    $('picked-list').replaceChildren(...items);
    $('picked-clear').hidden = this.files.length === 0;
  }

  showParams() {
    const preset = this.presets.find((p) => p.name === $('preset').value);
    $('preset-description').textContent = preset?.description ?? '';
    const fieldset = $('preset-params');
    const legend = fieldset.querySelector('legend');
    // A list of `{ name, type, … }` (the service's), or a record by name (the brief's first shape).
    const raw = preset?.params ?? [];
    const params = Array.isArray(raw) ? raw.map((p) => [p?.name, p ?? {}]) : Object.entries(raw);
    fieldset.replaceChildren(
      legend,
      ...params
        .filter(([name]) => typeof name === 'string')
        .map(([name, spec]) => paramInput(name, spec ?? {})),
    );
    fieldset.hidden = params.length === 0;
  }

  params() {
    const out = {};
    for (const input of $('preset-params').querySelectorAll('[data-param]')) {
      const name = input.dataset.param;
      if (input.type === 'checkbox') out[name] = input.checked;
      else if (input.value === '') continue;
      else if (input.dataset.type === 'number') out[name] = Number(input.value);
      else if (input.dataset.type === 'boolean') out[name] = input.value === 'true';
      else out[name] = input.value;
    }
    return out;
  }

  async start() {
    if (this.files.length === 0) return this.notify(new Error('drop or choose the files to process first'));
    const preset = $('preset').value;
    if (!preset) return this.notify(new Error('no preset: the service configures none (config api.presets)'));
    const settings = { preset, params: this.params() };
    const label = $('new-label').value.trim();
    if (label) settings.label = label;
    const form = new FormData();
    form.append('settings', JSON.stringify(settings));
    const metadata = $('new-metadata').files?.[0];
    if (metadata) form.append('metadata', metadata, metadata.name);
    for (const f of this.files) form.append('files', f.file, f.path);
    const button = $('start');
    button.disabled = true;
    button.textContent = 'Uploading…';
    try {
      const answer = await call('POST', '/v1/batches', { form });
      this.files = [];
      $('new-metadata').value = '';
      this.showFiles();
      const warnings = (answer?.warnings ?? []).map((w) => (typeof w === 'string' ? w : (w?.message ?? '')));
      if (warnings.some(Boolean)) this.notify(warnings.filter(Boolean).join('; '), 'info');
      this.openBatch(answer.batchId);
    } catch (err) {
      this.notify(err);
    } finally {
      button.disabled = false;
      button.textContent = 'Start';
    }
  }
}

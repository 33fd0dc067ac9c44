// The console's entry: the token form, notices, and the three views chosen by the URL's hash
// (#/ the batches, #/new a new batch, #/batches/<id> one batch).
import { ApiError, getToken, onUnauthorized, setToken } from './api.js';
import { BatchView } from './batch-view.js';
import { ListView } from './list-view.js';
import { NewBatchView } from './new-batch-view.js';

const $ = (id) => document.getElementById(id);

let noticeTimer = 0;
/** Shows an error (with its fix) or an information line; the text is set as text, never as HTML. */
function notify(what, kind = 'error', showMs = kind === 'error' ? 15_000 : 5_000) {
  const el = $('notice');
  el.textContent =
    what instanceof ApiError ? what.advice : what instanceof Error ? what.message : String(what);
  el.className = `notice ${kind}`;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (el.hidden = true), showMs);
}

function showTokenForm(reason) {
  $('token-reason').textContent = reason;
  $('token-form').hidden = false;
  $('token-input').focus();
}

const openBatch = (id) => (location.hash = `#/batches/${encodeURIComponent(id)}`);

const views = {
  list: { el: $('view-list'), ctl: new ListView(notify) },
  new: {
    el: $('view-new'),
    ctl: new NewBatchView(notify, openBatch),
  },
  batch: { el: $('view-batch'), ctl: new BatchView(notify, openBatch) },
};

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const batch = /^\/batches\/([^/]+)$/.exec(hash);
  const name = batch ? 'batch' : hash === '/new' ? 'new' : 'list';
  for (const [n, v] of Object.entries(views)) {
    if (n !== name) {
      v.el.hidden = true;
      v.ctl.close();
    }
  }
  views[name].el.hidden = false;
  if (batch) {
    let id;
    try {
      id = decodeURIComponent(batch[1]);
    } catch {
      id = batch[1];
    }
    views.batch.ctl.open(id);
  } else void views[name].ctl.open();
}

onUnauthorized((err) =>
  showTokenForm(
    getToken()
      ? `The service refused this token: ${err.message}`
      : 'This service needs a bearer token (scopes read, operate, submit).',
  ),
);

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken($('token-input').value.trim());
  $('token-input').value = '';
  $('token-form').hidden = true;
  $('notice').hidden = true;
  route();
});
$('token-clear').addEventListener('click', () => {
  setToken('');
  $('token-input').value = '';
});
$('token-toggle').addEventListener('click', () => {
  if ($('token-form').hidden) showTokenForm(getToken() ? 'A token is set for this tab.' : 'No token set.');
  else $('token-form').hidden = true;
});

window.addEventListener('hashchange', route);
route();

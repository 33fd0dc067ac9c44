// The console's client of the service: every call carries the bearer token (kept in this tab's
// sessionStorage only), problems (application/problem+json) become ApiError with their `fix`, and a
// 401 asks the page for a token. Downloads go through fetch too, because a plain link cannot send the
// Authorization header.

const TOKEN_KEY = 'durabatch.token';

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A refusal of the service: its status and problem body (detail, fix). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem ?? {};
  }

  /** What to tell the user: what happened and what to do. */
  get advice() {
    return this.problem.fix ? `${this.message} (fix: ${this.problem.fix})` : this.message;
  }
}

/** Listeners told when the service answers 401 (the page shows the token form). */
const unauthorizedListeners = new Set();
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

export function authHeaders(extra = {}) {
  const token = getToken();
  return token ? { ...extra, authorization: `Bearer ${token}` } : { ...extra };
}

async function failure(res) {
  let problem;
  try {
    problem = await res.json();
  } catch {
    problem = undefined;
  }
  const err = new ApiError(res.status, problem);
  if (res.status === 401) for (const listener of unauthorizedListeners) listener(err);
  return err;
}

/**
 * A request to the service. `json` sends a JSON body, `form` a FormData (multipart, the browser sets
 * the boundary). Answers the parsed JSON (or undefined for an empty body); throws ApiError.
 */
export async function call(method, path, { json, form, signal, headers } = {}) {
  const init = { method, headers: authHeaders({ accept: 'application/json', ...headers }), signal };
  if (json !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

/** A path segment from any string (batch ids and item keys come from outside). */
export const seg = (value) => encodeURIComponent(String(value));

/**
 * Fetches `path` with the token and saves it as `filename` through a blob URL (revoked once the
 * browser has taken it).
 */
export async function download(path, filename) {
  const res = await fetch(path, { headers: authHeaders() });
  if (!res.ok) throw await failure(res);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return blob.size;
}

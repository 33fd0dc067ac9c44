// The client side of `npm run example:api`: `durabatch serve` as a child process with a token of its
// own, each request printed as it runs (method, path, status, time, a short summary), downloads, and
// an events-stream reader that resumes with Last-Event-ID if the stream breaks before the batch ends.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { durabatch, startDurabatch, type RunningCli } from '../lib/example';

const say = (line: string) => process.stderr.write(`${line}\n`);

export interface Answer<T> {
  status: number;
  body: T;
  text: string;
}

export interface Service {
  url: string;
  /** A request with the token; `what` says what is sent, `summary` what came back (on a 2xx). */
  call<T>(
    method: string,
    pathOrUrl: string,
    opts?: {
      body?: FormData | string;
      headers?: Record<string, string>;
      what?: string;
      summary?: (body: T) => string;
    },
  ): Promise<Answer<T>>;
  /** GETs a file and writes it to `file`; its bytes. */
  download(pathOrUrl: string, file: string): Promise<Buffer>;
  /** A streaming GET (the events), printed like the others. */
  stream(pathOrUrl: string, headers?: Record<string, string>): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * Starts `durabatch serve --config <config> --port 0 --worker` with one token (`name`, `scopes`),
 * created by `durabatch serve --new-token` and given to the service in a token file beside the
 * config: the token is only in this process's memory.
 */
export async function startService(config: string, name: string, scopes: string[]): Promise<Service> {
  const made = await durabatch(['serve', '--new-token', name, '--scopes', scopes.join(',')]);
  const token = /token \(.*\): (\S+)/.exec(made.stdout)?.[1];
  const entry = /entry \(.*\): (\S+)/.exec(made.stdout)?.[1];
  if (made.code !== 0 || !token || !entry)
    throw new Error(`durabatch serve --new-token failed: ${made.stdout}`);
  const tokenFile = path.join(path.dirname(config), 'tokens');
  await writeFile(tokenFile, `${entry}\n`, { mode: 0o600 });

  // The service's own log lines (JSON, one per request) stay out of the example's output; their
  // tail is shown if it stops before it should.
  const args = ['serve', '--config', config, '--token-file', tokenFile, '--port', '0', '--worker'];
  say(`\n$ durabatch ${args.join(' ')}   # in the background; its log lines are not shown`);
  const serve: RunningCli = startDurabatch(args, { quiet: true });
  let log = '';
  serve.child.stderr!.on('data', (chunk: Buffer | string) => (log = (log + String(chunk)).slice(-3_000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    serve.child.stdout!.on('data', (chunk: Buffer | string) => {
      out += String(chunk);
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void serve.done.then((r) =>
      reject(new Error(`durabatch serve exited with code ${r.code} before listening:\n${log.trim()}`)),
    );
  });
  say(`service at ${url}, token "${name}" (${scopes.join(', ')})\n`);

  const auth = { authorization: `Bearer ${token}` };
  const full = (p: string) => new URL(p, url).href;
  const shown = (p: string) => new URL(p, url).pathname + new URL(p, url).search;
  let stopped: Promise<void> | undefined;
  return {
    url,
    async call<T>(
      method: string,
      pathOrUrl: string,
      opts: {
        body?: FormData | string;
        headers?: Record<string, string>;
        what?: string;
        summary?: (body: T) => string;
      } = {},
    ): Promise<Answer<T>> {
      const t0 = performance.now();
      const res = await fetch(full(pathOrUrl), {
        method,
        headers: { ...auth, ...opts.headers },
        body: opts.body,
      });
      const text = await res.text();
      const ms = Math.round(performance.now() - t0);
      const body = (/json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text) as T;
      const problem = body as { detail?: string; fix?: string };
      const summary = res.ok
        ? (opts.summary?.(body) ?? '')
        : `${problem.detail ?? text.slice(0, 200)}${problem.fix ? ` (fix: ${problem.fix})` : ''}`;
      say(
        `${method} ${shown(pathOrUrl)}${opts.what ? ` [${opts.what}]` : ''} → ${res.status} in ${ms} ms: ${summary}`,
      );
      return { status: res.status, body, text };
    },
    async download(pathOrUrl: string, file: string): Promise<Buffer> {
      const t0 = performance.now();
      const res = await fetch(full(pathOrUrl), { headers: auth });
      const bytes = Buffer.from(await res.arrayBuffer());
      const ms = Math.round(performance.now() - t0);
      say(
        `GET ${shown(pathOrUrl)} → ${res.status} in ${ms} ms: ${bytes.length} bytes of ${res.headers.get('content-type') ?? '?'}`,
      );
      if (!res.ok)
        throw new Error(`GET ${shown(pathOrUrl)} answered ${res.status}: ${bytes.toString('utf8', 0, 300)}`);
      await writeFile(file, bytes);
      return bytes;
    },
    async stream(pathOrUrl: string, headers: Record<string, string> = {}): Promise<Response> {
      const res = await fetch(full(pathOrUrl), {
        headers: { ...auth, accept: 'text/event-stream', ...headers },
      });
      const resume = headers['last-event-id'] ? ` [Last-Event-ID: ${headers['last-event-id']}]` : '';
      say(`GET ${shown(pathOrUrl)}${resume} → ${res.status}: ${res.headers.get('content-type') ?? '?'}`);
      return res;
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        if (serve.child.exitCode !== null) return;
        serve.child.kill('SIGTERM');
        await serve.done;
      })();
      return stopped;
    },
  };
}

export interface ItemEvent {
  key: string;
  state: string;
  attempt?: number;
  error?: string;
  errorType?: string;
  latencyMs?: number;
}

export interface Counts {
  status: string;
  total: number;
  succeeded: number;
  failed: number;
  running: number;
}

export interface FollowedEvents {
  items: ItemEvent[];
  /** `counts` events received. */
  counts: number;
  /** The `end` event's status. */
  end?: Counts;
  /**
   * `item` events whose id was seen before: each transition has an id of its own, so a stream,
   * resumed or not, repeats none. (Other events carry the id of the position they were sent at.)
   */
  duplicateIds: number;
}

/**
 * Follows a batch's events stream to its `end` event, printing each document's transitions and the
 * counts when they change. A stream that breaks first is resumed with Last-Event-ID (at most 5
 * times); the whole wait is bounded.
 */
export async function followEvents(
  api: Service,
  eventsPath: string,
  timeoutMs = 180_000,
): Promise<FollowedEvents> {
  const out: FollowedEvents = { items: [], counts: 0, duplicateIds: 0 };
  const seen = new Set<string>();
  let lastId: string | undefined;
  let shownCounts = '';
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt <= 5 && !out.end; attempt++) {
    const res = await api.stream(eventsPath, lastId ? { 'last-event-id': lastId } : {});
    if (!res.ok || !res.body)
      throw new Error(`the events stream answered ${res.status}: ${await res.text()}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const timer = setTimeout(() => void reader.cancel(), Math.max(0, deadline - Date.now()));
    let buffer = '';
    try {
      while (!out.end) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        // Events end with a blank line; comments (":" lines) are the keep-alives.
        for (let cut = buffer.indexOf('\n\n'); cut !== -1; cut = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = 'message';
          let id: string | undefined;
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const [field, ...rest] = line.split(':');
            const text = rest.join(':').replace(/^ /, '');
            if (field === 'event') event = text;
            else if (field === 'id') id = text;
            else if (field === 'data') data.push(text);
          }
          if (data.length === 0) continue;
          if (id !== undefined) {
            if (event === 'item') {
              if (seen.has(id)) out.duplicateIds += 1;
              seen.add(id);
            }
            lastId = id;
          }
          const payload = JSON.parse(data.join('\n')) as unknown;
          if (event === 'item') {
            const e = payload as ItemEvent;
            out.items.push(e);
            const detail = e.error
              ? `: ${e.errorType ?? ''} ${e.error}`
              : e.latencyMs
                ? ` in ${e.latencyMs} ms`
                : '';
            say(`    item ${e.key} ${e.state}${e.attempt ? ` (attempt ${e.attempt})` : ''}${detail}`);
          } else if (event === 'counts') {
            out.counts += 1;
            const c = payload as Counts;
            const line = `${c.succeeded} succeeded, ${c.failed} failed, ${c.running} running of ${c.total}`;
            if (line !== shownCounts) say(`    counts: ${(shownCounts = line)}`);
          } else if (event === 'end') {
            out.end = payload as Counts;
            say(`    end: ${out.end.status}, ${out.end.succeeded} succeeded, ${out.end.failed} failed`);
          }
        }
      }
    } finally {
      clearTimeout(timer);
      await reader.cancel().catch(() => undefined);
    }
    if (!out.end && Date.now() >= deadline) throw new Error(`no end event within ${timeoutMs / 1000} s`);
  }
  if (!out.end) throw new Error('the events stream broke off 6 times before the batch ended');
  return out;
}

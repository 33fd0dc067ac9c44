// Server-Sent Events over fetch: EventSource cannot send an Authorization header, so the console reads
// the stream itself. The parser follows the HTML standard's event-stream rules (fields `event`,
// `data`, `id`, `retry`; `:` comments; CR, LF or CRLF line ends; one leading space stripped from a
// value), and the reader reconnects with `Last-Event-ID` so no transition is lost or seen twice.

/** Parses event-stream text fed in arbitrary chunks; calls `onEvent({ type, data, id })` per event. */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.type = '';
    this.data = [];
    this.lastEventId = '';
    /** The server's `retry:` (ms), if it sent one. */
    this.retry = undefined;
    this.sawCr = false;
  }

  feed(chunk) {
    let text = chunk;
    // A CRLF split across chunks: the LF belongs to the line the CR already ended.
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      if (cr < 0 && lf < 0) break;
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      this.line(this.buffer.slice(start, end));
      if (this.buffer[end] === '\r') {
        if (end + 1 === this.buffer.length) {
          this.sawCr = true;
          start = end + 1;
          break;
        }
        start = this.buffer[end + 1] === '\n' ? end + 2 : end + 1;
      } else start = end + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return; // a comment: the keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') {
      if (!value.includes('\0')) this.lastEventId = value;
    } else if (field === 'retry') {
      if (/^\d+$/.test(value)) this.retry = Number(value);
    }
  }

  dispatch() {
    const type = this.type || 'message';
    const data = this.data;
    this.type = '';
    this.data = [];
    if (data.length === 0) return;
    this.onEvent({ type, data: data.join('\n'), id: this.lastEventId });
  }
}

/**
 * Follows `url` until an `end` event or `stop()`: each event goes to `onEvent({ type, data, id })`,
 * with `data` parsed as JSON when it is JSON. Reconnects after a dropped connection, sending the
 * last id seen; gives up on a 4xx other than 429 (the token, the scope or the batch is wrong:
 * retrying cannot help).
 * `onState(state, detail)` reports 'open', 'reconnecting', 'ended' and 'failed'.
 */
export function followEvents(url, { headers, onEvent, onState = () => {}, retryMs = 1_000 }) {
  const controller = new AbortController();
  let lastEventId = '';
  let ended = false;
  let delay = retryMs;

  const run = async () => {
    while (!ended && !controller.signal.aborted) {
      let dropped = '';
      try {
        const h = { ...headers(), accept: 'text/event-stream' };
        if (lastEventId) h['last-event-id'] = lastEventId;
        const res = await fetch(url, { headers: h, signal: controller.signal, cache: 'no-store' });
        if (res.status >= 400 && res.status < 500 && res.status !== 429) {
          let problem;
          try {
            problem = await res.json();
          } catch {
            problem = undefined;
          }
          onState('failed', { status: res.status, problem });
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onState('open');
        delay = retryMs;
        const parser = new SseParser((event) => {
          if (event.id) lastEventId = event.id;
          let data = event.data;
          try {
            data = JSON.parse(event.data);
          } catch {
            // not JSON: handed on as text
          }
          if (event.type === 'end') ended = true;
          onEvent({ type: event.type, data, id: event.id });
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
          if (ended) {
            await reader.cancel();
            break;
          }
        }
        if (parser.retry !== undefined) delay = parser.retry;
      } catch (err) {
        if (controller.signal.aborted) return;
        dropped = String(err);
      }
      if (ended) break;
      if (controller.signal.aborted) return;
      // Closed before `end` (a restart of the service, a proxy's timeout) or failed: follow again.
      onState('reconnecting', { error: dropped });
      await new Promise((resolve) => setTimeout(resolve, delay));
      // Back off while the service stays away, up to 10 s.
      delay = Math.min(delay * 2, 10_000);
    }
    if (ended) onState('ended');
  };
  void run();
  return { stop: () => controller.abort() };
}

// A Server-Sent Events client for tests: reads a stream's events (id, type, parsed data) until a
// condition holds or the stream ends, then disconnects.
export interface SseEvent {
  id?: string;
  event: string;
  data: unknown;
}

export interface SseRead {
  status: number;
  contentType: string | null;
  events: SseEvent[];
  /** Comment lines seen (keep-alives). */
  comments: string[];
  /** True when the server closed the stream (after `end`), false when we stopped reading. */
  ended: boolean;
}

/**
 * Opens `url` and reads events until `stop(events, comments)` is true (then disconnects), the server ends the
 * stream, or `timeoutMs` passes (an error naming what was read).
 */
export async function readEvents(
  url: string,
  opts: {
    token?: string;
    lastEventId?: string;
    stop?: (events: SseEvent[], comments: string[]) => boolean;
    timeoutMs?: number;
  },
): Promise<SseRead> {
  const abort = new AbortController();
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.lastEventId) headers['last-event-id'] = opts.lastEventId;
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const timer = setTimeout(() => abort.abort(new Error('timeout')), timeoutMs);
  try {
    const res = await fetch(url, { headers, signal: abort.signal });
    const read: SseRead = {
      status: res.status,
      contentType: res.headers.get('content-type'),
      events,
      comments,
      ended: false,
    };
    if (!res.ok || !res.body) return read;
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = res.body.getReader();
    for (;;) {
      let chunk: { done: boolean; value?: Uint8Array };
      try {
        chunk = await reader.read();
      } catch (err) {
        throw new Error(
          `stream failed after ${events.length} events (${(err as Error).message}): ${JSON.stringify(events.slice(-3))}`,
          { cause: err },
        );
      }
      if (chunk.done) {
        read.ended = true;
        return read;
      }
      buffer += decoder.decode(chunk.value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const ev: Partial<SseEvent> & { dataText?: string } = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else if (line.startsWith('id: ')) ev.id = line.slice(4);
          else if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('data: ')) ev.dataText = (ev.dataText ?? '') + line.slice(6);
        }
        if (ev.event !== undefined)
          events.push({
            id: ev.id,
            event: ev.event,
            data: ev.dataText ? JSON.parse(ev.dataText) : undefined,
          });
        if (opts.stop?.(events, comments)) {
          abort.abort();
          return read;
        }
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** The id of the last event that has one. */
export function lastId(events: SseEvent[]): string | undefined {
  return [...events].reverse().find((e) => e.id !== undefined)?.id;
}

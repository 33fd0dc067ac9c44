// The console's browser modules that need no browser: the event-stream parser (the console reads SSE
// through fetch, so it parses the stream itself) and the queue model that merges items pages with
// events arriving in any order.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';

interface SseEvent {
  type: string;
  data: string;
  id: string;
}
interface Parser {
  feed(chunk: string): void;
  lastEventId: string;
  retry?: number;
}
interface Row {
  key: string;
  index: number;
  state: string;
  attempts: number;
  progress?: number;
  error?: string;
}
interface Model {
  mergeItem(item: object): void;
  applyItemEvent(event: object): void;
  applyProgress(event: object): void;
  list(opts?: { state?: string; key?: string; sort?: string }): Row[];
  rows: Map<string, Row>;
}

// Plain browser JavaScript (no TypeScript declarations): imported by a computed path, typed here.
const sseModule = '../../src/api/console/sse.js';
const modelModule = '../../src/api/console/queue-model.js';
const { SseParser, followEvents } = (await import(sseModule)) as {
  SseParser: new (on: (e: SseEvent) => void) => Parser;
  followEvents: (
    url: string,
    opts: {
      headers: () => Record<string, string>;
      onEvent: (e: { type: string; data: unknown; id: string }) => void;
      onState?: (state: string, detail?: unknown) => void;
      retryMs?: number;
    },
  ) => { stop(): void };
};
const { QueueModel } = (await import(modelModule)) as { QueueModel: new () => Model };

function parse(chunks: string[]): { events: SseEvent[]; parser: Parser } {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  for (const c of chunks) parser.feed(c);
  return { events, parser };
}

describe('console: the event-stream parser', () => {
  it('reads events, ids, comments and multi-line data, whatever the chunking and line ends', () => {
    const text =
      ': keep-alive\r\n' +
      'retry: 2500\r\n' +
      'event: item\r\nid: 7\r\ndata: {"key":"a"}\r\n\r\n' +
      'event: counts\ndata:line1\ndata: line2\n\n' +
      'data: no type\rid: 8\r\r' +
      'event: end\nid: 9\ndata: {}\n\n';
    const whole = parse([text]);
    // Every split point, including between a CR and its LF.
    for (let cut = 1; cut < text.length; cut++) {
      const split = parse([text.slice(0, cut), text.slice(cut)]);
      expect(split.events, `split at ${cut}`).toEqual(whole.events);
    }
    expect(whole.events).toEqual([
      { type: 'item', data: '{"key":"a"}', id: '7' },
      { type: 'counts', data: 'line1\nline2', id: '7' },
      { type: 'message', data: 'no type', id: '8' },
      { type: 'end', data: '{}', id: '9' },
    ]);
    expect(whole.parser.lastEventId).toBe('9');
    expect(whole.parser.retry).toBe(2500);
  });

  it('dispatches nothing for an event without data, and keeps an unfinished event for the next chunk', () => {
    const { events, parser } = parse(['event: item\nid: 3\n\n', 'data: {"a"', ':1}\n']);
    expect(events).toEqual([]);
    expect(parser.lastEventId).toBe('3');
    parser.feed('\n');
    expect(events).toEqual([{ type: 'message', data: '{"a":1}', id: '3' }]);
  });
});

describe('console: following the events stream', () => {
  it('reconnects after a drop with Last-Event-ID and the token, and stops at `end`', async () => {
    // Six events; the first connection is cut after three, the second resumes after the last id.
    const events = [1, 2, 3, 4, 5].map((n) => `id: ${n}\nevent: item\ndata: {"key":"K${n}"}\n\n`);
    events.push('id: 6\nevent: end\ndata: {"status":"completed"}\n\n');
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const after = Number(req.headers['last-event-id'] ?? 0);
      if (after === 0) {
        // The connection drops mid-batch, once the first three events are out.
        res.write(': keep-alive\n\n' + events.slice(0, 3).join(''), () =>
          setTimeout(() => res.destroy(), 20),
        );
      } else res.end(events.slice(after).join(''));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
    const got: string[] = [];
    const states: string[] = [];
    try {
      await new Promise<void>((resolve) => {
        followEvents(url, {
          headers: () => ({ authorization: 'Bearer t0k' }),
          onEvent: (e) => got.push(`${e.id}:${e.type}:${JSON.stringify(e.data)}`),
          onState: (state) => {
            states.push(state);
            if (state === 'ended') resolve();
          },
          retryMs: 10,
        });
      });
    } finally {
      server.close();
    }
    expect(got).toEqual([
      '1:item:{"key":"K1"}',
      '2:item:{"key":"K2"}',
      '3:item:{"key":"K3"}',
      '4:item:{"key":"K4"}',
      '5:item:{"key":"K5"}',
      '6:end:{"status":"completed"}',
    ]);
    expect(seen.map((h) => [h.authorization, h['last-event-id']])).toEqual([
      ['Bearer t0k', undefined],
      ['Bearer t0k', '3'],
    ]);
    expect(states).toEqual(['open', 'reconnecting', 'open', 'ended']);
  }, 10_000);
});

describe('console: the queue model', () => {
  it('never lets an older items page undo a newer event', () => {
    const m = new QueueModel();
    m.applyItemEvent({ key: 'b', index: 1, state: 'started', attempt: 1 });
    m.applyItemEvent({ key: 'b', index: 1, state: 'succeeded', latencyMs: 40 });
    m.mergeItem({ key: 'a', index: 0, state: 'pending', attempts: 0, outputFiles: [] });
    m.mergeItem({ key: 'b', index: 1, state: 'running', attempts: 1, outputFiles: [] });
    m.mergeItem({ key: 'c', index: 2, state: 'failed', attempts: 3, error: 'boom', outputFiles: [] });
    m.applyProgress({ key: 'a', percent: 140 });
    expect(m.list().map((r) => [r.key, r.state, r.attempts])).toEqual([
      ['a', 'pending', 0],
      ['b', 'succeeded', 1],
      ['c', 'failed', 3],
    ]);
    expect(m.rows.get('a')?.progress).toBe(100);
    expect(m.list({ state: 'failed' }).map((r) => r.key)).toEqual(['c']);
    expect(m.list({ sort: 'attempts' }).map((r) => r.key)).toEqual(['c', 'b', 'a']);
    expect(m.list({ key: 'B' }).map((r) => r.key)).toEqual(['b']);
  });
});

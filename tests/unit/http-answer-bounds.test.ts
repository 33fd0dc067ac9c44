// What a step hands on is bounded and never throws (depth, cycles, size), and item keys HTTP cannot
// carry are encoded reversibly for the Idempotency-Key header while every other key stays as it was.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { bodyShape, boundedBody, MAX_BODY_CHARS, MAX_BODY_DEPTH } from '../../activities/processors/context';
import { parseAnswer } from '../../activities/processors/http-answer';
import { idempotencyHeader } from '../../activities/processors/idempotency-header';

const nested = (depth: number): unknown => JSON.parse('['.repeat(depth) + ']'.repeat(depth));

describe('boundedBody', () => {
  it('keeps a small, shallow body as it is', () => {
    const body = { id: 'x', items: [{ a: 1 }, { b: [true, null] }] };
    expect(boundedBody(body)).toBe(body);
    expect(boundedBody(nested(MAX_BODY_DEPTH))).toEqual(nested(MAX_BODY_DEPTH));
  });

  it('drops, without throwing, a body too deep to serialise (10,000 levels)', () => {
    expect(() => JSON.stringify(nested(10_000))).toThrow(RangeError); // what used to escape
    expect(bodyShape(nested(10_000))).toBe('too-deep');
    expect(boundedBody(nested(10_000))).toBeUndefined();
    expect(boundedBody(nested(MAX_BODY_DEPTH + 1))).toBeUndefined();
  });

  it('drops a cyclic value, a throwing getter or toJSON, and a body too large for history', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    cyclic.again = cyclic;
    expect(boundedBody(cyclic)).toBeUndefined();
    const getter = Object.defineProperty({}, 'x', {
      enumerable: true,
      get() {
        throw new Error('hostile getter');
      },
    });
    expect(boundedBody(getter)).toBeUndefined();
    expect(
      boundedBody({
        toJSON() {
          throw new Error('hostile toJSON');
        },
      }),
    ).toBeUndefined();
    expect(boundedBody({ text: 'x'.repeat(MAX_BODY_CHARS) })).toBeUndefined();
    expect(boundedBody(Array.from({ length: MAX_BODY_CHARS + 1 }, () => 0))).toBeUndefined();
  });
});

describe('parseAnswer', () => {
  it('warns about a nesting deeper than the limit and keeps the value for costFrom', () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const text = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    expect(parseAnswer(text, log)).toMatchObject({ a: { a: {} } });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, maxDepth: MAX_BODY_DEPTH });
    expect(parseAnswer('not json', log)).toBeUndefined();
    expect(parseAnswer('', log)).toBeUndefined();
    expect(parseAnswer('{"ok":true}', log)).toEqual({ ok: true });
    expect(lines).toHaveLength(1);
  });
});

describe('idempotencyHeader', () => {
  it('sends every key HTTP can carry byte for byte as before', () => {
    for (const key of ['b:K0001', 'b:a b%20c', 'b:Überblick, Teil 1.pdf', 'b:tab\there', 'b:x:step']) {
      expect(idempotencyHeader(key)).toBe(key);
    }
  });

  it('percent-encodes a key with a character above U+00FF, a line break or NUL, reversibly', () => {
    const cases: [string, string][] = [
      ['b:отчёт.pdf', 'b:%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf'],
      ['b:写真.jpg', 'b:%E5%86%99%E7%9C%9F.jpg'],
      ['b:line\nbreak', 'b:line%0Abreak'],
      ['b:cr\rlf', 'b:cr%0Dlf'],
      ['b:nul\0', 'b:nul%00'],
      ['b:50% ü€', 'b:50%25%20%C3%BC%E2%82%AC'],
    ];
    for (const [key, header] of cases) {
      expect(idempotencyHeader(key)).toBe(header);
      expect(decodeURIComponent(header)).toBe(key);
      expect(header).toMatch(/^[\x21-\x7e]+$/);
    }
  });
});

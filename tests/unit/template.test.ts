import { describe, expect, it } from 'vitest';
import { expandUrl, renderBody, resolveEnvRefs } from '../../activities/processors/template';
import { parseRetryAfter } from '../../activities/processors/http';
import type { Item } from '../../workflows/types';

const item = (data: Record<string, unknown>): Item => ({ index: 0, key: 'k1', line: 2, data });

describe('templates', () => {
  it('encodes every item value in URLs so it cannot change the URL structure', () => {
    const url = expandUrl(
      'http://h/p/{id}{?q}',
      item({ id: '../../etc?&#/', q: '$(touch /tmp/x); rm -rf `x`' }),
    );
    expect(url).toBe(
      'http://h/p/..%2F..%2Fetc%3F%26%23%2F?q=%24%28touch%20%2Ftmp%2Fx%29%3B%20rm%20-rf%20%60x%60',
    );
  });

  it('fills JSON body templates on the parsed tree, keeping types and never breaking out of strings', () => {
    const body = renderBody(
      '{"id":"{id}","n":"{n}","note":"hi {name}"}',
      item({ id: 'x"}, "evil": "1', n: 3, name: 'Zoë' }),
    );
    expect(body).toEqual({ id: 'x"}, "evil": "1', n: 3, note: 'hi Zoë' });
    expect(renderBody(undefined, item({ a: '1' }))).toEqual({ a: '1' });
  });

  it('resolves ${env:NAME} only from the given environment and names a missing variable', () => {
    expect(resolveEnvRefs('Bearer ${env:TOKEN}', { TOKEN: 's3cret' })).toBe('Bearer s3cret');
    expect(() => resolveEnvRefs('${env:MISSING_ONE}', {})).toThrow(/MISSING_ONE is not set/);
  });

  it('parses Retry-After in seconds and as an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

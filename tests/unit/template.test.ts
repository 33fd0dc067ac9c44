import { describe, expect, it } from 'vitest';
import { expandUrl, renderBody, resolveEnvRefs } from '../../activities/processors/template';
import { parseRetryAfter } from '../../activities/processors/http';
import type { Item } from '../../workflows/types';
import { ItemValueError } from '../../activities/processors/item-values';

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

describe('URL path segments from item values', () => {
  it('refuses "." and ".." (and their %2E spellings) wherever they would land in the path', () => {
    for (const v of ['..', '.']) {
      expect(() => expandUrl('http://h/ok/{v}/details', item({ v }))).toThrow(/"v" = "\.{1,2}"/);
      expect(() => expandUrl('http://h/ok{/v}/details', item({ v }))).toThrow(ItemValueError);
    }
    expect(() => expandUrl('http://h/{+p}/d', item({ p: 'a/../../admin' }))).toThrow(/would change its path/);
    expect(() => expandUrl('http://h/{+p}/d', item({ p: '%2e%2E' }))).toThrow(/would change its path/);
  });

  it("keeps values that are not whole dot segments, values in the query, and the template's own dots", () => {
    expect(expandUrl('http://h/ok/{v}/d', item({ v: '...' }))).toBe('http://h/ok/.../d');
    expect(expandUrl('http://h/ok/{v}/d', item({ v: '../x' }))).toBe('http://h/ok/..%2Fx/d');
    expect(expandUrl('http://h/ok/{v}/d', item({ v: '%2e%2e' }))).toBe('http://h/ok/%252e%252e/d');
    expect(expandUrl('http://h/ok{?v}', item({ v: '..' }))).toBe('http://h/ok?v=..');
    expect(expandUrl('http://h/a/../{v}', item({ v: 'b' }))).toBe('http://h/a/../b');
  });
});

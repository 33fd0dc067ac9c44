// safeKey names each item's documents folder: distinct keys must never share a folder (one item's
// files would overwrite another's), every name must be one path segment, and plain keys stay readable.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { safeKey } from '../../src/output-dir/layout';

const hash16 = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16);

describe('safeKey', () => {
  const long = 'x'.repeat(149);
  const keys = ['a b', 'a/b', 'a_b', '.', '..', `${long}1`, `${long}2`, '', '.hidden', 'P 1/..', 'ü', '~'];

  it('gives every key its own folder name, each a valid single path segment', () => {
    const names = keys.map(safeKey);
    expect(new Set(names).size).toBe(keys.length);
    for (const name of names) {
      expect(name).not.toContain('/');
      expect(name).not.toContain('\\');
      expect(name).not.toContain('\0');
      expect(['', '.', '..']).not.toContain(name);
      expect(name.startsWith('.')).toBe(false);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    }
  });

  it('keeps a plain key as it is, up to 100 characters', () => {
    for (const key of ['P00042', 'a_b', 'report-2024.pdf', 'x'.repeat(100)]) {
      expect(safeKey(key)).toBe(key);
    }
  });

  it('appends ~ and 16 hex digits of the key sha256 whenever cleaning changed or cut the key', () => {
    expect(safeKey('a b')).toBe(`a_b~${hash16('a b')}`);
    expect(safeKey('a/b')).toBe(`a_b~${hash16('a/b')}`);
    expect(safeKey('.')).toBe(`_~${hash16('.')}`);
    expect(safeKey('..')).toBe(`_~${hash16('..')}`);
    expect(safeKey('')).toBe(`_~${hash16('')}`);
    expect(safeKey('sub/large.bin')).toBe(`sub_large.bin~${hash16('sub/large.bin')}`);
    // A key that would be plain but for its length: the first 100 characters plus the hash.
    const key = `${'y'.repeat(100)}z`;
    expect(safeKey(key)).toBe(`${'y'.repeat(100)}~${hash16(key)}`);
    expect(safeKey(`${long}1`)).toBe(`${'x'.repeat(100)}~${hash16(`${long}1`)}`);
  });
});

// The child message token: HMAC-SHA-256(batch secret, child id), computed by hand-written workflow
// code. Checked byte for byte against Node's crypto, and for the property the token exists for: it
// depends on the secret, so it cannot be computed from what the workflow shows (ids, run id).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newMessageSecret } from '../../src/client/batch-client';
import { childToken, hmacSha256, sha256, utf8 } from '../../workflows/message-token';
import { senderToken } from '../../workflows/message-validation';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('message token', () => {
  it('SHA-256 matches node:crypto at every padding boundary and for multi-block input', () => {
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 70_000]) {
      const data = randomBytes(n);
      expect(hex(sha256(data)), `length ${n}`).toBe(createHash('sha256').update(data).digest('hex'));
    }
    expect(hex(sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('HMAC-SHA-256 matches node:crypto for short, block-sized and long keys', () => {
    for (const keyLength of [0, 16, 32, 64, 65, 200]) {
      const key = randomBytes(keyLength);
      const message = randomBytes(keyLength + 7);
      expect(hex(hmacSha256(key, message)), `key length ${keyLength}`).toBe(
        createHmac('sha256', key).update(message).digest('hex'),
      );
    }
  });

  it('encodes child ids as UTF-8, as Node does (keys of any script, emoji, lone surrogates)', () => {
    for (const s of [
      'batch/L-1',
      'b/отчёт.pdf',
      'b/写真.jpg',
      'b/😀',
      'b/\ud800x',
      'b/x\udc00',
      'b/\u00e9\n',
    ]) {
      expect(Buffer.from(utf8(s)).equals(Buffer.from(s, 'utf8')), JSON.stringify(s)).toBe(true);
    }
  });

  it('is HMAC(secret, child id), different per child and per secret', () => {
    const secret = newMessageSecret();
    const id = 'orders-2026/L-10442';
    expect(childToken(secret, id)).toBe(createHmac('sha256', secret).update(id).digest('hex'));
    expect(childToken(secret, 'orders-2026/L-10443')).not.toBe(childToken(secret, id));
    // The same batch id, item and run would give the same token to anyone: only the secret differs.
    expect(childToken(newMessageSecret(), id)).not.toBe(childToken(secret, id));
  });

  it('a started batch gets 256 fresh random bits, different each time', () => {
    const secrets = new Set(Array.from({ length: 100 }, () => newMessageSecret()));
    expect(secrets.size).toBe(100);
    for (const s of secrets) expect(Buffer.from(s, 'base64url')).toHaveLength(32);
  });

  it('a child gets the derived token when the batch has a secret, none in a run from before tokens', () => {
    const secret = newMessageSecret();
    expect(senderToken(true, secret, 'b/k')).toBe(childToken(secret, 'b/k'));
    expect(senderToken(false, secret, 'b/k')).toBeUndefined();
    // An empty or non-text secret (a hand-made input) is no secret: HMAC under it is computable.
    for (const none of [undefined, '', 42 as unknown as string]) {
      const token = senderToken(true, none, 'b/k');
      expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(token).not.toBe(childToken('', 'b/k'));
    }
  });
});

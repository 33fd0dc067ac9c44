// The Idempotency-Key header's value. Item keys come from file names and cells, and HTTP cannot
// carry every string: a character above U+00FF or a line break made undici throw before sending,
// so such an item could never be sent. Those keys are percent-encoded; every other key goes out
// byte for byte as it always did, so running batches and their targets keep the keys they know.

/** What undici refuses in a header value: a character above U+00FF, CR, LF or NUL. */
// eslint-disable-next-line no-control-regex
const NOT_A_HEADER_VALUE = /[^\x01-\x09\x0b\x0c\x0e-\xff]/;

/**
 * `key` as sent in `Idempotency-Key`: unchanged when HTTP can carry it; otherwise each UTF-8 byte
 * outside visible ASCII (space included), and `%` itself, as `%XX` — `decodeURIComponent` gives the
 * key back (`b:отчёт.pdf` → `b:%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf`).
 */
export function idempotencyHeader(key: string): string {
  if (!NOT_A_HEADER_VALUE.test(key)) return key;
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    out +=
      byte > 0x20 && byte < 0x7f && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

// Payload encryption keys: one setting turns encryption on.
//   DURABATCH_CODEC_KEY       a 32-byte key, base64 (openssl rand -base64 32), with
//   DURABATCH_CODEC_KEY_ID    its id (default "default"), written into every payload it encrypts; or
//   DURABATCH_CODEC_KEY_FILE  a file holding one base64 key (id from DURABATCH_CODEC_KEY_ID), or a
//                             key ring {"current": "k2", "keys": {"k1": "<base64>", "k2": "<base64>"}}.
// Rotation: encrypt with the current key, keep the old ones in the ring so older histories still
// decrypt (the payload names the key it was encrypted with).
import { InputError } from '../errors';
import { readFileBoundedSync } from '../util/bounded-read';

/** A key file holds a key or a small JSON key ring: anything larger is not one. */
const MAX_KEY_FILE_BYTES = 1024 * 1024;

export interface KeyRing {
  currentId: string;
  keys: Map<string, Buffer>;
}

function parseKey(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32)
    throw new InputError(
      `${where} is not a 32-byte key in base64 (it decodes to ${key.length} bytes)`,
      'generate one with `openssl rand -base64 32`',
    );
  return key;
}

/** The key ring the environment configures, or undefined when payload encryption is off. */
export function loadKeyRing(env: NodeJS.ProcessEnv = process.env): KeyRing | undefined {
  const id = env.DURABATCH_CODEC_KEY_ID || 'default';
  if (env.DURABATCH_CODEC_KEY) {
    return { currentId: id, keys: new Map([[id, parseKey(env.DURABATCH_CODEC_KEY, 'DURABATCH_CODEC_KEY')]]) };
  }
  const file = env.DURABATCH_CODEC_KEY_FILE;
  if (!file) return undefined;
  let text: string;
  try {
    const hint = 'point it at a readable key file, or unset it to turn payload encryption off';
    text = readFileBoundedSync(file, MAX_KEY_FILE_BYTES, {
      what: `DURABATCH_CODEC_KEY_FILE ${file}`,
      hint,
    }).toString('utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(
      `cannot read DURABATCH_CODEC_KEY_FILE ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      'point it at a readable key file, or unset it to turn payload encryption off',
    );
  }
  if (!text.trim().startsWith('{')) {
    return { currentId: id, keys: new Map([[id, parseKey(text, `the key in ${file}`)]]) };
  }
  let ring: { current?: unknown; keys?: unknown };
  try {
    ring = JSON.parse(text) as typeof ring;
  } catch (err) {
    throw new InputError(
      `${file} is not valid JSON: ${(err as Error).message}`,
      'see docs/deployment.md#payload-encryption',
    );
  }
  const entries = Object.entries((ring.keys ?? {}) as Record<string, unknown>);
  if (typeof ring.current !== 'string' || entries.length === 0)
    throw new InputError(
      `${file} must be {"current": "<id>", "keys": {"<id>": "<base64 key>", ...}}`,
      'see docs/deployment.md#payload-encryption',
    );
  const keys = new Map(entries.map(([k, v]) => [k, parseKey(String(v), `key "${k}" in ${file}`)]));
  if (!keys.has(ring.current))
    throw new InputError(
      `${file}: the current key "${ring.current}" is not among its keys`,
      'add it, or name another',
    );
  return { currentId: ring.current, keys };
}

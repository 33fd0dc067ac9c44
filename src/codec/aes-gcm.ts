// AES-256-GCM payload codec: every payload (workflow inputs and results, activity inputs and
// results, signals, queries, memos) leaves the process encrypted, so the Temporal server, its
// database and anyone reading histories see ciphertext. The whole Payload (metadata and data) is
// encrypted; the outer payload says which key and cipher, so keys can rotate.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { InputError } from '../errors';
import type { KeyRing } from './keys';

/** Where the key ring is configured: named by every key error, so the fix is obvious. */
export const KEY_SETTINGS = 'DURABATCH_CODEC_KEY (with DURABATCH_CODEC_KEY_ID) or DURABATCH_CODEC_KEY_FILE';

/**
 * A payload this process cannot decrypt: its key id is not in the ring, or the key under that id is
 * not the one it was encrypted with. Says which key id and what to set (CLI exit 2, no stack).
 */
export class CodecKeyError extends InputError {
  override name = 'CodecKeyError';
  constructor(
    readonly keyId: string,
    problem: string,
  ) {
    super(
      `cannot decrypt a payload encrypted with key id "${keyId}": ${problem}`,
      `set ${KEY_SETTINGS} to the key ring the batch was written with (same key under id "${keyId}") on every client, worker and codec server`,
    );
  }
}

const { temporal } = proto;

export const ENCODING = 'binary/encrypted';
export const CIPHER = 'AES256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export interface AesGcmCodecOptions {
  /**
   * Told of each payload this process cannot decrypt (a worker logs it: the workflow task that
   * fails on it is retried every few seconds, and the batch would otherwise wait silently).
   */
  onKeyError?: (err: CodecKeyError) => void;
}

export class AesGcmCodec implements PayloadCodec {
  constructor(
    private readonly ring: KeyRing,
    private readonly opts: AesGcmCodecOptions = {},
  ) {}

  private keyError(keyId: string, problem: string): CodecKeyError {
    const err = new CodecKeyError(keyId, problem);
    this.opts.onKeyError?.(err);
    return err;
  }

  // async: a failure is a rejected promise, as the SDK expects of a codec.
  // eslint-disable-next-line @typescript-eslint/require-await
  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.ring.currentId;
    const key = this.ring.keys.get(keyId)!;
    return payloads.map((p) => {
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: {
          encoding: utf8(ENCODING),
          'encryption-cipher': utf8(CIPHER),
          'encryption-key-id': utf8(keyId),
        },
        data: Buffer.concat([nonce, body, cipher.getAuthTag()]),
      };
    });
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (text(p.metadata?.encoding) !== ENCODING) return p; // written before encryption was on
      const keyId = text(p.metadata?.['encryption-key-id']) ?? '';
      const key = this.ring.keys.get(keyId);
      if (!key)
        throw this.keyError(
          keyId,
          `this process has no key "${keyId}" (it has ${[...this.ring.keys.keys()].join(', ')})`,
        );
      const data = Buffer.from(p.data ?? new Uint8Array());
      let plain: Buffer;
      try {
        const nonce = data.subarray(0, NONCE_BYTES);
        const tag = data.subarray(data.length - TAG_BYTES);
        const decipher = createDecipheriv('aes-256-gcm', key, nonce);
        decipher.setAuthTag(tag);
        plain = Buffer.concat([
          decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
          decipher.final(),
        ]);
      } catch (err) {
        // GCM's "unable to authenticate data": another key under the same id (or a damaged payload).
        throw this.keyError(
          keyId,
          `the key this process has under that id does not match (${(err as Error).message})`,
        );
      }
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

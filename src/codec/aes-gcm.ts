// AES-256-GCM payload codec: every payload (workflow inputs and results, activity inputs and
// results, signals, queries, memos) leaves the process encrypted, so the Temporal server, its
// database and anyone reading histories see ciphertext. The whole Payload (metadata and data) is
// encrypted; the outer payload says which key and cipher, so keys can rotate.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { KeyRing } from './keys';

const { temporal } = proto;

export const ENCODING = 'binary/encrypted';
export const CIPHER = 'AES256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export class AesGcmCodec implements PayloadCodec {
  constructor(private readonly ring: KeyRing) {}

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
        throw new Error(
          `payload encrypted with key "${keyId}", which this process does not have (it has ${[...this.ring.keys.keys()].join(', ')}): add it to DURABATCH_CODEC_KEY_FILE`,
        );
      const data = Buffer.from(p.data ?? new Uint8Array());
      const nonce = data.subarray(0, NONCE_BYTES);
      const tag = data.subarray(data.length - TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', key, nonce);
      decipher.setAuthTag(tag);
      const plain = Buffer.concat([
        decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

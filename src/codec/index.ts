// Payload encryption, on when DURABATCH_CODEC_KEY or DURABATCH_CODEC_KEY_FILE is set: the data
// converter every durabatch client and worker uses.
import type { DataConverter } from '@temporalio/common';
import { AesGcmCodec } from './aes-gcm';
import { loadKeyRing } from './keys';

export { AesGcmCodec } from './aes-gcm';
export { loadKeyRing, type KeyRing } from './keys';

/** The data converter for this environment: undefined (Temporal's default) without a key. */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const ring = loadKeyRing(env);
  return ring ? { payloadCodecs: [new AesGcmCodec(ring)] } : undefined;
}

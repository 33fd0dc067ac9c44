// Payload encryption, on when DURABATCH_CODEC_KEY or DURABATCH_CODEC_KEY_FILE is set: the data
// converter every durabatch client and worker uses. Failures are encoded too (their message and
// stack become an encrypted payload), so no item error is stored in clear in history.
import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import { packageRoot } from '../util/package-root';
import { AesGcmCodec, type AesGcmCodecOptions } from './aes-gcm';
import { loadKeyRing } from './keys';

export { AesGcmCodec, CodecKeyError } from './aes-gcm';
export { loadKeyRing, type KeyRing } from './keys';

/**
 * The failure converter that encodes failures' messages and stack traces (`encodeCommonAttributes`):
 * a module path, because the worker require()s it and the workflow bundle must include it.
 */
export function encodedFailuresPath(): string {
  return path.join(packageRoot(), 'src', 'codec', 'encoded-failures.cjs');
}

/** The data converter for this environment: undefined (Temporal's default) without a key. */
export function dataConverterFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  opts: AesGcmCodecOptions = {},
): DataConverter | undefined {
  const ring = loadKeyRing(env);
  return ring
    ? { payloadCodecs: [new AesGcmCodec(ring, opts)], failureConverterPath: encodedFailuresPath() }
    : undefined;
}

/**
 * Calls `log` for a payload this process cannot decrypt, at most once a minute per key id: a worker
 * meets the same payloads again at every retry of the workflow task that fails on them.
 */
export function throttledKeyErrors(log: (err: Error) => void, everyMs = 60_000): AesGcmCodecOptions {
  const last = new Map<string, number>();
  return {
    onKeyError(err) {
      const now = Date.now();
      if (now - (last.get(err.keyId) ?? -Infinity) < everyMs) return;
      last.set(err.keyId, now);
      log(err);
    },
  };
}

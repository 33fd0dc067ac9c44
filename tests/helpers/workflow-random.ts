// What a forger can compute from a batch's public run id: the value `uuid4()` returns first in a
// workflow run. sdk-core seeds the workflow's PRNG with SipHash-1-3 (keys 0, 0) of the original run
// id as Rust hashes a `str` (its bytes, then 0xff); the TypeScript SDK feeds the seed's 8 big-endian
// bytes to `alea`, and `uuid4()` draws four 32-bit words from it. Replicated here from the SDK's
// sources (core-bridge sdk-core workflow_machines.rs str_to_randomness_seed; workflow/lib
// internals.js, alea.js, random-helpers.js) so a test can send the token the old scheme gave a
// batch's first child (tokens drawn with uuid4() in workflow code).
import { alea } from '@temporalio/workflow/lib/alea';
import { uuid4FromRandom } from '@temporalio/workflow/lib/random-helpers';

const MASK = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & MASK;

/** SipHash-1-3 with keys (0, 0), as Rust's `siphasher::sip::SipHasher13::new()`. */
function sipHash13(bytes: Uint8Array): bigint {
  let v0 = 0x736f6d6570736575n;
  let v1 = 0x646f72616e646f6dn;
  let v2 = 0x6c7967656e657261n;
  let v3 = 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & MASK;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & MASK;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & MASK;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const word = (at: number, n: number) => {
    let m = 0n;
    for (let i = n - 1; i >= 0; i--) m = (m << 8n) | BigInt(bytes[at + i]!);
    return m;
  };
  const whole = bytes.length - (bytes.length % 8);
  for (let at = 0; at < whole; at += 8) {
    const m = word(at, 8);
    v3 ^= m;
    round();
    v0 ^= m;
  }
  const last = ((BigInt(bytes.length) & 0xffn) << 56n) | word(whole, bytes.length - whole);
  v3 ^= last;
  round();
  v0 ^= last;
  v2 ^= 0xffn;
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

/** The randomness seed sdk-core gives a run whose original run id is `runId`, as the SDK's bytes. */
export function workflowSeed(runId: string): number[] {
  const seed = sipHash13(Buffer.concat([Buffer.from(runId, 'utf8'), Buffer.from([0xff])]));
  return Array.from({ length: 8 }, (_, i) => Number((seed >> BigInt(56 - 8 * i)) & 0xffn));
}

/** The first `uuid4()` of a workflow run with original run id `runId`. */
export function firstUuid4(runId: string): string {
  return uuid4FromRandom(alea(workflowSeed(runId)));
}

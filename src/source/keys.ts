// Duplicate-key detection in flat memory. A Map of a million string keys costs tens of MB; instead each
// key's 53-bit hash goes into a growable Float64Array (8 bytes a key), sorted once at the end. Equal
// hashes are only candidates: a second pass over the staged items compares the real keys, so a hash
// collision can never be reported as a duplicate.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** cyrb53 (public domain, bryc): a fast, well-mixed 53-bit string hash, exact in a double. */
export function hash53(str: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

export class KeyRegistry {
  /** Hash of item i's key at position i. */
  private hashes = new Float64Array(1 << 16);
  private count = 0;

  /** `hash` is replaceable so tests can force collisions. */
  constructor(private readonly hash: (key: string) => number = hash53) {}

  add(key: string): void {
    if (this.count === this.hashes.length) {
      const grown = new Float64Array(this.hashes.length * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[this.count++] = this.hash(key);
  }

  /** Hashes that occur more than once (usually none). */
  private collisions(): Set<number> {
    const sorted = this.hashes.slice(0, this.count).sort();
    const out = new Set<number>();
    for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) out.add(sorted[i]!);
    return out;
  }

  /**
   * Real duplicates, as messages `key "a" on line 4 (first on line 2)`, read back from the staged
   * items file (one JSON item per line, in registration order): the first `limit` and their total.
   */
  async duplicates(itemsFile: string, limit = 20): Promise<{ messages: string[]; total: number }> {
    const candidates = this.collisions();
    if (candidates.size === 0) return { messages: [], total: 0 };
    const firstLine = new Map<string, number>();
    const found: string[] = [];
    let total = 0;
    const rl = createInterface({ input: createReadStream(itemsFile), crlfDelay: Infinity });
    let i = 0;
    try {
      for await (const text of rl) {
        if (candidates.has(this.hashes[i++]!)) {
          const { key, line } = JSON.parse(text) as { key: string; line: number };
          const first = firstLine.get(key);
          if (first === undefined) firstLine.set(key, line);
          else if (++total <= limit) found.push(`key "${key}" on line ${line} (first on line ${first})`);
        }
      }
    } finally {
      rl.close();
    }
    return { messages: found, total };
  }
}

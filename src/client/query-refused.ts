// A query can be refused while a worker recovers a batch it did not have cached (see
// workflows/query-tail-guard.ts): the batch's next workflow task settles that within seconds, so the
// client asks again rather than showing the refusal.
import { setTimeout as sleep } from 'node:timers/promises';
import { QUERY_REFUSED_UNTASKED } from '../../workflows/query-tail-guard';

/** Runs `query`, again every `everyMs` while the guard refuses it, for at most `forMs`. */
export async function askAgainIfRefused<T>(
  query: () => Promise<T>,
  forMs = 30_000,
  everyMs = 500,
): Promise<T> {
  const until = Date.now() + forMs;
  for (;;) {
    try {
      return await query();
    } catch (err) {
      if (!String(err).includes(QUERY_REFUSED_UNTASKED) || Date.now() > until) throw err;
      await sleep(everyMs);
    }
  }
}

// What every route of the service works with: the batches' Temporal client (one per caller, so the
// server records who acted), the settings, the presets, and a short-lived shared cache of status
// answers. None of it is state of the service: a restart or a second replica answers the same.
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { BatchProgress } from '../../workflows/types';
import { BatchClient } from '../client/batch-client';
import type { ApiSettings } from '../config/api';
import type { Config } from '../config/schema';
import type { Environment } from '../server/environment';
import { storagePathProblem } from '../home/storage-paths';
import type { Principal, TokenTable } from './auth';
import { serviceStorageRoots } from './storage-roots';

export interface ApiContext {
  /** The service's settings, paths resolved. */
  settings: ApiSettings & { uploadsDir: string; outputRoot: string };
  /** The configuration the service started with: defaults for every batch it starts. */
  config: Config;
  home: string;
  env: Environment;
  tokens: TokenTable;
  log: Logger;
  /** Folders the service reads batches' files in (see storage-roots.ts). */
  storageRoots: readonly string[];
  /** A client acting as `who`: its Temporal identity and audit entries name the token. */
  clientFor(who: Principal): BatchClient;
  /**
   * Status answers shared by concurrent callers for `statusCacheMs` (one query per batch at a time);
   * for another `statusCacheMs` the last answer is given while a refresh runs. `fresh`: an answer
   * asked for now, for callers that must not see one from before (a batch's final status once its
   * workflow has closed); it becomes the shared answer.
   */
  progress(batchId: string, opts?: { fresh?: boolean }): Promise<BatchProgress>;
}

/** The Temporal identity of the service acting for `who`, as Temporal records it on each request. */
export function serviceIdentity(who: Principal): string {
  return `durabatch-api token:${who.name} ${os.hostname()} pid ${process.pid}`;
}

/** A batch's status answer shared between callers, and the refresh of it in flight, if any. */
interface CachedStatus {
  /** When the answer was asked for. */
  at: number;
  answer: Promise<BatchProgress>;
  /** The answer once it is there. */
  value?: BatchProgress;
  refresh?: Promise<BatchProgress>;
}

/** Builds the context; one Temporal connection for all callers. */
export function createApiContext(opts: {
  settings: ApiSettings;
  config: Config;
  home: string;
  env: Environment;
  tokens: TokenTable;
  log: Logger;
}): ApiContext {
  const { env, home } = opts;
  const settings = {
    ...opts.settings,
    uploadsDir: path.resolve(opts.settings.uploadsDir ?? path.join(home, 'uploads')),
    outputRoot: path.resolve(opts.settings.outputRoot),
  };
  const storageRoots = serviceStorageRoots(settings, home, opts.config.allow);
  const clients = new Map<string, BatchClient>();
  const clientFor = (who: Principal): BatchClient => {
    let c = clients.get(who.name);
    if (!c) {
      const client = new Client({
        connection: env.connection,
        namespace: env.namespace,
        identity: serviceIdentity(who),
        dataConverter: env.client.options.dataConverter,
      });
      c = new BatchClient(client, {
        namespace: env.namespace,
        taskQueue: opts.config.taskQueue,
        home,
        webUiBase: env.webUiBase,
        auditFields: { user: `token:${who.name}`, via: 'durabatch-api' },
        // An ended batch's summary is read only inside the service's storage roots.
        outputReadable: async (dir) => (await storagePathProblem(dir, storageRoots)) === undefined,
      });
      clients.set(who.name, c);
    }
    return c;
  };
  const reader = clientFor({ name: 'service', scopes: new Set() });
  const cache = new Map<string, CachedStatus>();
  const ttl = settings.statusCacheMs;
  const progress = (batchId: string, opts: { fresh?: boolean } = {}): Promise<BatchProgress> => {
    const now = Date.now();
    const hit = opts.fresh ? undefined : cache.get(batchId);
    if (hit && now - hit.at < ttl) return hit.answer;
    // Expired a moment ago: answer the last status while one refresh runs, so that callers polling
    // a batch never queue behind its round trips (describe, pollers, query: tens of ms, seconds on
    // a loaded server). An answer is never older than 2 × statusCacheMs; past that callers wait.
    if (hit?.value && now - hit.at < 2 * ttl) {
      hit.refresh ??= refresh(batchId, hit);
      return hit.answer;
    }
    // The answer still on its way, or the refresh of one too old to give: wait for it, never ask twice.
    if (hit && !hit.value) return hit.answer;
    if (hit?.refresh) return hit.refresh;
    const entry: CachedStatus = { at: now, answer: reader.progress(batchId) };
    cache.set(batchId, entry);
    entry.answer.then(
      (value) => (entry.value = value),
      // A failed answer is not reused.
      () => cache.get(batchId) === entry && cache.delete(batchId),
    );
    // Old entries are dropped so the map stays small.
    if (cache.size > 1_000) for (const [k, v] of cache) if (now - v.at > 2 * ttl) cache.delete(k);
    return entry.answer;
  };
  /** Asks again for `stale`'s batch; the answer replaces `stale` once it is there. */
  const refresh = (batchId: string, stale: CachedStatus): Promise<BatchProgress> => {
    const at = Date.now();
    const answer = reader.progress(batchId);
    answer.then(
      (value) => {
        if (cache.get(batchId) === stale) cache.set(batchId, { at, answer, value });
      },
      // The stale answer ages out; the next caller after that asks (and waits) itself.
      () => (stale.refresh = undefined),
    );
    return answer;
  };
  return {
    settings,
    storageRoots,
    config: opts.config,
    home,
    env,
    tokens: opts.tokens,
    log: opts.log,
    clientFor,
    progress,
  };
}

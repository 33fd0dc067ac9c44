// Starting the service: settings, tokens (refusing to listen off loopback without them), the
// Temporal connection (the embedded dev server when none answers, as `run` does), the app, and a
// clean stop on SIGINT/SIGTERM. The service holds nothing that a restart would lose.
import { API_SCOPES, type ApiScope } from '../config/api';
import { InputError } from '../errors';
import { homeDir } from '../home/defaults';
import { createLogger } from '../logging/logger';
import type { ServeFlags } from '../cli/commands/serve';
import { isLoopbackHost, newToken, TokenTable } from './auth';

const say = (msg: string) => process.stderr.write(`${msg}\n`);

export async function serve(flags: ServeFlags): Promise<void> {
  if (flags.newToken) {
    const scopes = (flags.scopes ?? 'read')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = scopes.find((s) => !(API_SCOPES as readonly string[]).includes(s));
    if (bad) throw new InputError(`--scopes: unknown scope "${bad}"`, `scopes are ${API_SCOPES.join(', ')}`);
    const { token, entry } = newToken(flags.newToken, scopes as ApiScope[]);
    process.stdout.write(`token (give it to the client; it is not stored anywhere): ${token}\n`);
    process.stdout.write(`entry (add it to api.tokens or the token file): ${entry}\n`);
    return;
  }
  const { loadConfig } = await import('../config/load');
  const api: Record<string, unknown> = {};
  if (flags.host !== undefined) api.host = flags.host;
  if (flags.port !== undefined) api.port = flags.port;
  if (flags.tokenFile !== undefined) api.tokenFile = flags.tokenFile;
  if (flags.worker) api.worker = true;
  const { config } = await loadConfig({
    file: flags.config,
    flags: Object.keys(api).length ? { api } : {},
    flagNames: {
      'api.host': '--host',
      'api.port': '--port',
      'api.tokenFile': '--token-file',
      'api.worker': '--worker',
    },
    command: 'durabatch serve',
  });
  const settings = config.api;
  // A broken preset stops the start, naming the preset and field, before anything is opened.
  const { presetsOf } = await import('./presets');
  const presets = presetsOf(settings);
  const tokens = await TokenTable.load(settings);
  if (!isLoopbackHost(settings.host) && !tokens.enabled) {
    throw new InputError(
      `refusing to listen on ${settings.host} without tokens: anyone who reaches it could start and cancel batches`,
      'create tokens with `durabatch serve --new-token NAME --scopes read,operate,submit` and set api.tokens or --token-file, or listen on 127.0.0.1',
    );
  }
  const home = homeDir();
  const { openEnvironment } = await import('../server/environment');
  const env = await openEnvironment({ home, log: say });
  const log = createLogger({ level: config.logLevel, terminalLevel: config.logLevel });
  const { createApiContext } = await import('./context');
  const { buildApiApp } = await import('./app');
  const ctx = createApiContext({ settings, config, home, env, tokens, log });
  const app = await buildApiApp(ctx);
  const { sweepAbandonedUploads } = await import('./uploads');
  const swept = await sweepAbandonedUploads(ctx.settings.uploadsDir).catch(() => 0);
  if (swept > 0) log.info({ swept }, `removed ${swept} upload folder(s) abandoned mid-request`);
  const stops: (() => Promise<unknown>)[] = [() => env.close(), () => app.close()];
  if (settings.worker) {
    const { startServiceWorker } = await import('./service-worker');
    const worker = await startServiceWorker({ ctx, env, presets, log });
    const running = worker.run();
    running.catch((err: unknown) => say(`the service's worker stopped: ${String(err)}`));
    stops.push(() => worker.shutdown());
  }
  const stop = async () => {
    for (let fn = stops.pop(); fn; fn = stops.pop()) await fn().catch(() => undefined);
  };
  await app.listen({ host: settings.host, port: settings.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : settings.port;
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  // The one line on stdout: where the service is (tests and scripts read it).
  process.stdout.write(`durabatch service listening on http://${host}:${port}\n`);
  say(
    `Temporal server ${env.address}${env.embedded ? ' (embedded)' : ''}; console http://${host}:${port}/, reference /v1/docs, ` +
      (tokens.enabled ? 'bearer tokens required' : 'no tokens (loopback only)'),
  );
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  say('stopping the service: batches go on without it');
  await stop();
}

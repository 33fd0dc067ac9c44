// Finds the Temporal server a command should use: the one TEMPORAL_ADDRESS (or a profile) names, or
// one already answering on the default address, or else the embedded dev server started here.
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { clientIdentity } from '../audit/audit-log';
import { dataConverterFromEnv } from '../codec';
import { describeServerError, ServerUnavailableError } from '../errors';
import { resolveServerTarget, tryConnect } from './connection';
import { startDevServer, type DevServer } from './dev-server';
import { ensureSearchAttributes } from './register-search-attributes';

export interface Environment {
  connection: Connection;
  connectionOptions: ConnectionOptions;
  client: Client;
  namespace: string;
  address: string;
  webUiBase: string | null;
  /** The dev server this process started, if it did. */
  embedded?: DevServer;
  close(): Promise<void>;
}

export interface EnvironmentOptions {
  home: string;
  env?: NodeJS.ProcessEnv;
  /** Start the embedded server when none answers (default true). */
  allowEmbedded?: boolean;
  log?: (msg: string) => void;
}

interface ServerRecord {
  address: string;
  uiUrl: string | null;
  pid: number;
}

const recordFile = (home: string) => path.join(home, 'server.json');

async function readServerRecord(home: string): Promise<ServerRecord | undefined> {
  return JSON.parse(await readFile(recordFile(home), 'utf8').catch(() => 'null')) as ServerRecord | undefined;
}

function guessUiBase(address: string, env: NodeJS.ProcessEnv, record?: ServerRecord): string | null {
  if (env.DURABATCH_WEB_UI_URL) return env.DURABATCH_WEB_UI_URL.replace(/\/$/, '');
  if (record?.address === address) return record.uiUrl;
  const m = /^(127\.0\.0\.1|localhost):(\d+)$/.exec(address);
  return m ? `http://${m[1]}:${Number(m[2]) + 1000}` : null;
}

export async function openEnvironment(opts: EnvironmentOptions): Promise<Environment> {
  const env = opts.env ?? process.env;
  const target = resolveServerTarget(env);
  const record = await readServerRecord(opts.home);
  // Prefer an embedded server that an earlier `durabatch server`/`run` left running for this home.
  const candidates =
    target.explicit || !record
      ? [target.connectionOptions]
      : [{ address: record.address }, target.connectionOptions];
  let lastError: unknown;
  for (const options of candidates) {
    const connection = await tryConnect(options, undefined, (err) => (lastError = err));
    if (connection) {
      const address = options.address ?? '';
      await ensureSearchAttributes(connection, target.namespace);
      return makeEnvironment(connection, options, target.namespace, guessUiBase(address, env, record));
    }
  }
  if (target.explicit) {
    // An address the user chose is never silently replaced by the embedded server.
    // The real cause (a refused client certificate, a TLS/plain-text mismatch, a timeout) and a fix.
    const cause = describeServerError(lastError);
    const tls = Boolean(target.connectionOptions.tls) || Boolean(target.connectionOptions.apiKey);
    throw new ServerUnavailableError(
      `no Temporal server answers at ${target.connectionOptions.address} (from TEMPORAL_ADDRESS or the Temporal config profile)` +
        (cause ? `: ${cause.message}` : lastError instanceof Error ? `: ${lastError.message}` : '') +
        '\n  fix: start the server there, or correct TEMPORAL_ADDRESS; unset it to let `durabatch run` start the embedded server' +
        (tls
          ? '; with TLS, check that the server trusts the client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH) and that TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME match its certificate'
          : '; if the server requires TLS, set TEMPORAL_TLS=true and the TEMPORAL_TLS_* certificate paths'),
    );
  }
  if (opts.allowEmbedded === false) {
    throw new ServerUnavailableError(
      `no Temporal server answers at ${target.connectionOptions.address}; start one with \`durabatch server\` or set TEMPORAL_ADDRESS`,
    );
  }
  const server = await startDevServer({ home: opts.home, env, log: opts.log });
  await writeFile(
    recordFile(opts.home),
    JSON.stringify({ address: server.address, uiUrl: server.uiUrl, pid: server.pid }),
  );
  const connectionOptions = { address: server.address };
  const connection = await Connection.connect(connectionOptions);
  return makeEnvironment(connection, connectionOptions, server.namespace, server.uiUrl, {
    server,
    home: opts.home,
  });
}

function makeEnvironment(
  connection: Connection,
  connectionOptions: ConnectionOptions,
  namespace: string,
  webUiBase: string | null,
  embedded?: { server: DevServer; home: string },
): Environment {
  return {
    connection,
    connectionOptions,
    // Payload encryption (DURABATCH_CODEC_KEY*): the CLI encrypts what it sends and decrypts what it reads.
    client: new Client({
      connection,
      namespace,
      identity: clientIdentity(),
      dataConverter: dataConverterFromEnv(),
    }),
    namespace,
    address: connectionOptions.address ?? '',
    webUiBase,
    embedded: embedded?.server,
    close: async () => {
      await connection.close();
      if (embedded) {
        await embedded.server.stop();
        const rec = await readServerRecord(embedded.home).catch(() => undefined);
        if (rec?.pid === embedded.server.pid) await rm(recordFile(embedded.home), { force: true });
      }
    },
  };
}

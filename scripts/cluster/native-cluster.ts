// A production Temporal cluster without containers: Debian's PostgreSQL in a directory of its own,
// Temporal's schema made by temporal-sql-tool, the Temporal server (all four services in one
// process, SQL persistence and SQL visibility) and the UI server, from the binaries
// scripts/cluster/install-tools.sh builds. The native counterpart of docker-compose.yml, used by
// `npm run test:cluster` and runnable by hand:
//
//   npx tsx scripts/cluster/native-cluster.ts [--tls] [--dir DIR]   # prints the client settings
//
// Optionally the frontend requires client certificates (mutual TLS), made here with openssl.
//
// Each phase lives in a file of its own: postgres.ts (1, 2), temporal-server-config.ts and
// temporal-server.ts (3), ui-server.ts (4); this file orders them and stops what they started.
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions } from '@temporalio/client';
import { makeCertificates, type ClusterTls } from './certificates';
import { createTemporalSchemas, startPostgres } from './postgres';
import { stopProcesses, type Proc } from './processes';
import { clusterConnectionOptions, registerNamespace, temporalServer } from './temporal-server';
import { writeServerConfig, type ServerTuning } from './temporal-server-config';
import { startUiServer } from './ui-server';

export { makeCertificates, type ClusterTls };

export interface ClusterTools {
  server: string;
  sqlTool: string;
  /** The module's schema/postgresql directory (holds v12/temporal and v12/visibility). */
  schemaDir: string;
  uiServer?: string;
}

export interface NativeClusterOptions {
  tools: ClusterTools;
  /** Working directory (database, configs, certificates, logs); default: a new temp dir. As root its
   *  parents must be searchable by the `postgres` account. */
  dir?: string;
  /** The frontend requires a client certificate signed by a CA generated here. */
  tls?: boolean;
  /** Start the UI server (needs tools.uiServer). */
  ui?: boolean;
  /** Browser origins the UI server allows for its codec endpoint calls and API (CORS). */
  codecEndpoint?: string;
  /** Server settings a measurement varies; the defaults otherwise. */
  serverTuning?: ServerTuning;
  /** PostgreSQL `-c name=value` settings laid over the test's. */
  postgresSettings?: string[];
  log?: (msg: string) => void;
}

export interface NativeCluster {
  dir: string;
  address: string;
  uiUrl?: string;
  postgresPort: number;
  tls?: ClusterTls;
  /** Temporal's own client variables for this cluster (what a user would export). */
  clientEnv(namespace: string): Record<string, string>;
  connectionOptions(): ConnectionOptions;
  /** Registers a namespace (none exists on a production server) and waits until it is usable. */
  createNamespace(name: string, retentionDays?: number): Promise<void>;
  serverPid(): number | undefined;
  /** SIGKILL to the server process; returns its pid. */
  killServer(): Promise<number>;
  /** Starts the server again on the same database and ports, and waits until it answers. */
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

export async function startNativeCluster(opts: NativeClusterOptions): Promise<NativeCluster> {
  const log = opts.log ?? (() => undefined);
  const dir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'durabatch-cluster-')));
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755); // the postgres account must reach its data directory
  // Every process the phases start, in order: stopped last-started first.
  const procs: Proc[] = [];
  const stopAll = async () => {
    await stopProcesses(procs);
    // A temp dir made here is removed with the cluster; a dir the caller chose is the caller's.
    if (!opts.dir && process.env.DURABATCH_KEEP_TEST_FILES !== 'true')
      await rm(dir, { recursive: true, force: true });
  };
  try {
    const { port: postgresPort } = await startPostgres({
      dir,
      procs,
      settings: opts.postgresSettings,
      log,
    });
    await createTemporalSchemas({
      sqlTool: opts.tools.sqlTool,
      schemaDir: opts.tools.schemaDir,
      postgresPort,
      log,
    });

    const tls = opts.tls ? await makeCertificates(path.join(dir, 'certs')) : undefined;
    const { configFile, frontendPort } = await writeServerConfig({
      dir,
      postgresPort,
      tls,
      tuning: opts.serverTuning,
    });
    const address = `localhost:${frontendPort}`;
    const connectionOptions = () => clusterConnectionOptions(address, tls);
    const server = temporalServer({ binary: opts.tools.server, dir, configFile, address, tls, procs, log });
    await server.start();

    const uiUrl =
      opts.ui && opts.tools.uiServer
        ? await startUiServer({
            uiServer: opts.tools.uiServer,
            dir,
            address,
            codecEndpoint: opts.codecEndpoint,
            tls,
            procs,
            log,
          })
        : undefined;

    return {
      dir,
      address,
      uiUrl,
      postgresPort,
      tls,
      clientEnv: (namespace) => ({
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        ...(tls
          ? {
              TEMPORAL_TLS: 'true',
              TEMPORAL_TLS_SERVER_CA_CERT_PATH: tls.caFile,
              TEMPORAL_TLS_CLIENT_CERT_PATH: tls.certFile,
              TEMPORAL_TLS_CLIENT_KEY_PATH: tls.keyFile,
              TEMPORAL_TLS_SERVER_NAME: tls.serverName,
            }
          : {}),
      }),
      connectionOptions,
      async createNamespace(name, retentionDays = 3) {
        await registerNamespace(connectionOptions(), name, retentionDays);
      },
      serverPid: () => server.pid(),
      killServer: () => server.kill(),
      startServer: () => server.start(),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

// By hand: start a cluster, print how to reach it, stop on Ctrl-C.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const args = process.argv.slice(2);
  const dirArg = args.indexOf('--dir');
  const toolsDir = path.resolve('.durabatch/tools');
  const versions = Object.fromEntries(
    [
      ...(await readFile(path.resolve('scripts/cluster/versions.sh'), 'utf8')).matchAll(
        /^([A-Z_]+)=(\S+)$/gm,
      ),
    ].map((m) => [m[1], m[2]]),
  ) as Record<string, string>;
  const serverDir = path.join(toolsDir, `temporal-server-${versions.TEMPORAL_SERVER_VERSION}`);
  const cluster = await startNativeCluster({
    tools: {
      server: path.join(serverDir, 'server'),
      sqlTool: path.join(serverDir, 'temporal-sql-tool'),
      schemaDir: path.join(serverDir, 'schema-postgresql'),
      uiServer: path.join(toolsDir, `temporal-ui-server-${versions.TEMPORAL_UI_SERVER_VERSION}`, 'ui-server'),
    },
    dir: dirArg >= 0 ? args[dirArg + 1] : undefined,
    tls: args.includes('--tls'),
    ui: true,
    log: (m) => console.error(m),
  });
  await cluster.createNamespace('durabatch');
  console.log(
    Object.entries(cluster.clientEnv('durabatch'))
      .map(([k, v]) => `export ${k}=${v}`)
      .join('\n'),
  );
  if (cluster.uiUrl) console.log(`# Web UI: ${cluster.uiUrl}`);
  await new Promise((resolve) => process.once('SIGINT', resolve));
  await cluster.stop();
  if (dirArg < 0) await rm(cluster.dir, { recursive: true, force: true });
}

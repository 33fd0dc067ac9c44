// The Temporal server's configuration: all four services in one process, SQL persistence and SQL
// visibility in the cluster's PostgreSQL, optionally mutual TLS on the frontend.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../../src/server/ports';
import type { ClusterTls } from './certificates';
import { PG_PASSWORD, PG_USER } from './postgres';
import { lowPort } from './processes';

export interface ServerConfigInput {
  /** The cluster's directory: the config goes in config/, the certificates are in certs/. */
  dir: string;
  postgresPort: number;
  tls?: ClusterTls;
  tuning?: ServerTuning;
}

/** Settings a measurement varies (bench/cluster-throughput.ts); the test runs the defaults. */
export interface ServerTuning {
  numHistoryShards?: number;
  /** Dynamic config keys laid over ours, each as the value for every namespace. */
  dynamicConfig?: Record<string, unknown>;
}

export interface ServerConfig {
  /** config/production.yaml, the file the server is started with. */
  configFile: string;
  frontendPort: number;
}

/** Phase 3: writes the server's configuration, every port free, membership ports below 32768. */
export async function writeServerConfig({
  dir,
  postgresPort,
  tls,
  tuning = {},
}: ServerConfigInput): Promise<ServerConfig> {
  const taken = new Set<number>();
  const certs = path.join(dir, 'certs');
  const frontendPort = await freePort();
  const ports = {
    frontend: {
      grpcPort: frontendPort,
      membershipPort: await lowPort(taken),
      httpPort: await freePort(),
      bindOnLocalHost: true,
    },
    history: { grpcPort: await freePort(), membershipPort: await lowPort(taken), bindOnLocalHost: true },
    matching: { grpcPort: await freePort(), membershipPort: await lowPort(taken), bindOnLocalHost: true },
    worker: { grpcPort: await freePort(), membershipPort: await lowPort(taken), bindOnLocalHost: true },
  };
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${postgresPort}`,
      connectProtocol: 'tcp',
      user: PG_USER,
      password: PG_PASSWORD,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const serverTls = tls && {
    frontend: {
      server: {
        certFile: path.join(certs, 'server.pem'),
        keyFile: path.join(certs, 'server.key'),
        clientCaFiles: [tls.caFile],
        requireClientAuth: true,
      },
      client: { serverName: tls.serverName, rootCaFiles: [tls.caFile] },
    },
    systemWorker: {
      certFile: path.join(certs, 'server.pem'),
      keyFile: path.join(certs, 'server.key'),
      client: { serverName: tls.serverName, rootCaFiles: [tls.caFile] },
    },
  };
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: tuning.numHistoryShards ?? 4,
      datastores: {
        'postgres-default': datastore('temporal', 20),
        'postgres-visibility': datastore('temporal_visibility', 10),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      metrics: {
        prometheus: {
          framework: 'tally',
          timerType: 'histogram',
          listenAddress: `127.0.0.1:${await freePort()}`,
        },
      },
      ...(serverTls ? { tls: serverTls } : {}),
    },
    services: Object.fromEntries(Object.entries(ports).map(([name, rpc]) => [name, { rpc }])),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `localhost:${frontendPort}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: path.join(dir, 'config', 'dynamicconfig.yaml'), pollInterval: '10s' },
  };
  await mkdir(path.join(dir, 'config'), { recursive: true });
  // JSON is YAML: no YAML library needed to write the server's config.
  await writeFile(path.join(dir, 'config', 'production.yaml'), JSON.stringify(config, null, 2));
  await writeFile(
    path.join(dir, 'config', 'dynamicconfig.yaml'),
    JSON.stringify(
      {
        'limit.maxIDLength': [{ value: 255 }],
        ...Object.fromEntries(
          Object.entries(tuning.dynamicConfig ?? {}).map(([key, value]) => [key, [{ value }]]),
        ),
      },
      null,
      2,
    ),
  );
  return { configFile: path.join(dir, 'config', 'production.yaml'), frontendPort };
}

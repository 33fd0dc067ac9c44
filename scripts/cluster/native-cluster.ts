// A production Temporal cluster without containers: Debian's PostgreSQL in a directory of its own,
// Temporal's schema made by temporal-sql-tool, the Temporal server (all four services in one
// process, SQL persistence and SQL visibility) and the UI server, from the binaries
// scripts/cluster/install-tools.sh builds. The native counterpart of docker-compose.yml, used by
// `npm run test:cluster` and runnable by hand:
//
//   npx tsx scripts/cluster/native-cluster.ts [--tls] [--dir DIR]   # prints the client settings
//
// Optionally the frontend requires client certificates (mutual TLS), made here with openssl.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { freePort, isPortFree } from '../../src/server/ports';

const run = promisify(execFile);

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
  log?: (msg: string) => void;
}

export interface ClusterTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  serverName: string;
  /** A second CA and a client certificate it signed: one the server must refuse. */
  strangerCertFile: string;
  strangerKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
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

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
}

const PG_USER = 'temporal';
const PG_PASSWORD = 'temporal';

/** A free port at most 32767: Temporal's SQL cluster_membership.rpc_port column is a SMALLINT. */
async function lowPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!taken.has(port) && (await isPortFree(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port below 32768');
}

function startProcess(
  file: string,
  args: string[],
  logFile: string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Proc {
  const fd = openSync(logFile, 'a');
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', fd, fd],
    detached: true, // its own process group: stop() ends it and anything it started
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return { child, exited };
}

async function stopProcess(
  p: Proc | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 15_000,
): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null || p.child.pid === undefined) return;
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    return;
  }
  const done = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    try {
      process.kill(-p.child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await p.exited;
  }
}

async function tail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** PostgreSQL's binaries from Debian's packages (the newest major installed). */
function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base)
    ? readdirSync(base)
        .filter((d) => existsSync(path.join(base, d, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0)
    throw new Error(
      'PostgreSQL is not installed (apt-get install postgresql): no /usr/lib/postgresql/*/bin/initdb',
    );
  return path.join(base, majors[0]!, 'bin');
}

/** PostgreSQL refuses to run as root: as root, its commands run as the `postgres` account. */
const asPostgres = (file: string, args: string[]) =>
  process.getuid?.() === 0
    ? { file: 'runuser', args: ['-u', 'postgres', '--', file, ...args] }
    : { file, args };

/** A CA, a server certificate (localhost, 127.0.0.1) and client certificates; also used by tests. */
export async function makeCertificates(dir: string): Promise<ClusterTls> {
  await mkdir(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  const ca = async (name: string) =>
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '3',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
    ]);
  const leaf = async (name: string, caName: string, cn: string, ext: string) => {
    await writeFile(f(`${name}.ext`), ext);
    await openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    ]);
    await openssl([
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f(`${caName}.pem`),
      '-CAkey',
      f(`${caName}.key`),
      '-CAcreateserial',
      '-days',
      '3',
      '-out',
      f(`${name}.pem`),
      '-extfile',
      f(`${name}.ext`),
    ]);
  };
  await ca('ca');
  await ca('stranger-ca');
  // The server's certificate also serves as the system worker's client certificate.
  await leaf(
    'server',
    'ca',
    'localhost',
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await leaf('client', 'ca', 'durabatch-client', 'extendedKeyUsage=clientAuth\n');
  await leaf('stranger', 'stranger-ca', 'durabatch-client', 'extendedKeyUsage=clientAuth\n');
  return {
    caFile: f('ca.pem'),
    certFile: f('client.pem'),
    keyFile: f('client.key'),
    serverName: 'localhost',
    strangerCertFile: f('stranger.pem'),
    strangerKeyFile: f('stranger.key'),
    serverCertFile: f('server.pem'),
    serverKeyFile: f('server.key'),
  };
}

export async function startNativeCluster(opts: NativeClusterOptions): Promise<NativeCluster> {
  const log = opts.log ?? (() => undefined);
  const dir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'durabatch-cluster-')));
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755); // the postgres account must reach its data directory
  const procs: Proc[] = [];
  let server: Proc | undefined;
  let postgres: Proc | undefined;
  const stopAll = async () => {
    for (const p of [...procs].reverse()) await stopProcess(p);
    await stopProcess(server);
    await stopProcess(postgres, 'SIGINT'); // PostgreSQL's fast shutdown
    // A temp dir made here is removed with the cluster; a dir the caller chose is the caller's.
    if (!opts.dir && process.env.DURABATCH_KEEP_TEST_FILES !== 'true')
      await rm(dir, { recursive: true, force: true });
  };
  try {
    const taken = new Set<number>();
    // 1. PostgreSQL, in a directory of its own, on a free port.
    const bin = postgresBin();
    const pgData = path.join(dir, 'pg');
    const pgSock = path.join(dir, 'pg-sock');
    await mkdir(pgData, { recursive: true, mode: 0o700 });
    await mkdir(pgSock, { recursive: true });
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']).catch(() => {
        throw new Error(
          'running as root, PostgreSQL needs the `postgres` account (apt-get install postgresql creates it)',
        );
      });
      const uid = Number(stdout.trim());
      const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
      await chown(pgData, uid, gid);
      await chown(pgSock, uid, gid);
    }
    const initdb = asPostgres(path.join(bin, 'initdb'), [
      '-D',
      pgData,
      '-U',
      PG_USER,
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--no-sync',
    ]);
    await run(initdb.file, initdb.args, { cwd: dir });
    const postgresPort = await freePort();
    const pg = asPostgres(path.join(bin, 'postgres'), [
      '-D',
      pgData,
      '-p',
      String(postgresPort),
      '-k',
      pgSock,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=300',
      // A test database: durability against OS crashes is not what is tested here (the server and
      // the workers are killed, never PostgreSQL).
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ]);
    postgres = startProcess(pg.file, pg.args, path.join(dir, 'postgres.log'), { cwd: dir });
    for (let i = 0; ; i++) {
      const ok = await run(path.join(bin, 'pg_isready'), [
        '-h',
        '127.0.0.1',
        '-p',
        String(postgresPort),
        '-U',
        PG_USER,
      ]).then(
        () => true,
        () => false,
      );
      if (ok) break;
      if (i > 120 || postgres.child.exitCode !== null)
        throw new Error(`PostgreSQL did not start:\n${await tail(path.join(dir, 'postgres.log'))}`);
      await sleep(250);
    }
    log(`PostgreSQL ${path.basename(path.dirname(bin))} on 127.0.0.1:${postgresPort} (data ${pgData})`);

    // 2. Temporal's two databases and their schemas.
    const sql = (db: string, args: string[]) =>
      run(
        opts.tools.sqlTool,
        [
          '--plugin',
          'postgres12',
          '--ep',
          '127.0.0.1',
          '-p',
          String(postgresPort),
          '-u',
          PG_USER,
          '--pw',
          PG_PASSWORD,
          '--db',
          db,
          ...args,
        ],
        {
          maxBuffer: 16 << 20,
        },
      ).catch((err: { stderr?: string; message: string }) => {
        throw new Error(`temporal-sql-tool ${args[0]} on ${db} failed: ${err.stderr ?? err.message}`);
      });
    for (const [db, schema] of [
      ['temporal', 'temporal'],
      ['temporal_visibility', 'visibility'],
    ] as const) {
      await sql(db, ['create-database']);
      await sql(db, ['setup-schema', '-v', '0.0']);
      await sql(db, ['update-schema', '-d', path.join(opts.tools.schemaDir, 'v12', schema, 'versioned')]);
    }
    log('Temporal schema created (temporal, temporal_visibility)');

    // 3. The server's configuration: every port free, membership ports below 32768.
    const tls = opts.tls ? await makeCertificates(path.join(dir, 'certs')) : undefined;
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
        numHistoryShards: 4,
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
      JSON.stringify({ 'limit.maxIDLength': [{ value: 255 }] }, null, 2),
    );

    const address = `localhost:${frontendPort}`;
    const connectionOptions = (): ConnectionOptions => ({
      address,
      ...(tls
        ? {
            tls: {
              serverNameOverride: tls.serverName,
              serverRootCACertificate: Buffer.from(readFileSyncText(tls.caFile)),
              clientCertPair: {
                crt: Buffer.from(readFileSyncText(tls.certFile)),
                key: Buffer.from(readFileSyncText(tls.keyFile)),
              },
            },
          }
        : {}),
    });

    const serverLog = path.join(dir, 'temporal-server.log');
    const startServer = async () => {
      const started = Date.now();
      server = startProcess(
        opts.tools.server,
        ['--config-file', path.join(dir, 'config', 'production.yaml'), '--allow-no-auth', 'start'],
        serverLog,
        { cwd: dir },
      );
      for (;;) {
        const conn = await Connection.connect({ ...connectionOptions(), connectTimeout: 2_000 }).catch(
          () => undefined,
        );
        if (conn) {
          const ok = await conn
            .withDeadline(Date.now() + 2_000, () => conn.workflowService.getSystemInfo({}))
            .then(
              () => true,
              () => false,
            );
          await conn.close();
          if (ok) break;
        }
        if (server.child.exitCode !== null || server.child.signalCode !== null)
          throw new Error(`the Temporal server exited at start:\n${await tail(serverLog)}`);
        if (Date.now() - started > 120_000)
          throw new Error(`the Temporal server did not answer within 120 s:\n${await tail(serverLog)}`);
        await sleep(500);
      }
      log(
        `Temporal server pid ${server.child.pid} answering on ${address}${tls ? ' (mutual TLS)' : ''} after ${Date.now() - started} ms`,
      );
    };
    await startServer();

    // 4. The UI server.
    let uiUrl: string | undefined;
    if (opts.ui && opts.tools.uiServer) {
      const uiPort = await freePort();
      uiUrl = `http://127.0.0.1:${uiPort}`;
      const uiConfig = {
        temporalGrpcAddress: address,
        host: '127.0.0.1',
        port: uiPort,
        enableUi: true,
        defaultNamespace: 'default',
        cors: { allowOrigins: [uiUrl], cookieInsecure: true },
        refreshInterval: '1m',
        ...(opts.codecEndpoint
          ? { codec: { endpoint: opts.codecEndpoint, passAccessToken: false, includeCredentials: false } }
          : {}),
        ...(tls
          ? {
              tls: {
                caFile: tls.caFile,
                certFile: tls.certFile,
                keyFile: tls.keyFile,
                serverName: tls.serverName,
                enableHostVerification: true,
              },
            }
          : {}),
      };
      await mkdir(path.join(dir, 'ui-config'), { recursive: true });
      await writeFile(path.join(dir, 'ui-config', 'production.yaml'), JSON.stringify(uiConfig, null, 2));
      const uiLog = path.join(dir, 'ui-server.log');
      const ui = startProcess(
        opts.tools.uiServer,
        ['--root', dir, '--config', 'ui-config', '--env', 'production', 'start'],
        uiLog,
        { cwd: dir },
      );
      procs.push(ui);
      for (let i = 0; ; i++) {
        const ok = await fetch(`${uiUrl}/api/v1/settings`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        if (i > 120 || ui.child.exitCode !== null)
          throw new Error(`the UI server did not start:\n${await tail(uiLog)}`);
        await sleep(500);
      }
      log(`UI server on ${uiUrl}`);
    }

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
        const conn = await Connection.connect(connectionOptions());
        try {
          await conn.workflowService.registerNamespace({
            namespace: name,
            workflowExecutionRetentionPeriod: msToTs(retentionDays * 86_400_000),
          });
          // Usable once the frontend serves it (its namespace cache may lag the database).
          for (let i = 0; ; i++) {
            const ok = await conn.workflowService
              .countWorkflowExecutions({ namespace: name, query: '' })
              .then(
                () => true,
                (err: unknown) => {
                  if (i > 120) throw err;
                  return false;
                },
              );
            if (ok) return;
            await sleep(250);
          }
        } finally {
          await conn.close();
        }
      },
      serverPid: () => server?.child.pid,
      async killServer() {
        const pid = server?.child.pid ?? 0;
        await stopProcess(server, 'SIGKILL');
        return pid;
      },
      startServer,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Certificates are small: read when a connection is made. */
const readFileSyncText = (file: string) => readFileSync(file, 'utf8');

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

// The Temporal server process (started, killed and started again by the tests) and how clients reach it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import type { ClusterTls } from './certificates';
import { startProcess, stopProcess, tail, type Proc } from './processes';

/** Certificates are small: read when a connection is made. */
const readFileSyncText = (file: string) => readFileSync(file, 'utf8');

export function clusterConnectionOptions(address: string, tls: ClusterTls | undefined): ConnectionOptions {
  return {
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
  };
}

export interface TemporalServerInput {
  /** The server binary. */
  binary: string;
  /** The cluster's directory: the server runs there and logs to temporal-server.log. */
  dir: string;
  configFile: string;
  address: string;
  tls?: ClusterTls;
  /** The cluster's processes to stop: the running server holds one place in it. */
  procs: Proc[];
  log: (msg: string) => void;
}

export interface TemporalServer {
  pid(): number | undefined;
  /** Starts the server and waits until it answers. */
  start(): Promise<void>;
  /** SIGKILL to the server process; returns its pid. */
  kill(): Promise<number>;
}

/** Phase 3's process: the server is not started until start() is called. */
export function temporalServer(input: TemporalServerInput): TemporalServer {
  const { binary, dir, configFile, address, tls, procs, log } = input;
  const serverLog = path.join(dir, 'temporal-server.log');
  // The running server; a restart takes its predecessor's place in `procs`, so the stop order holds.
  let server: Proc | undefined;
  const start = async () => {
    const started = Date.now();
    const next = startProcess(binary, ['--config-file', configFile, '--allow-no-auth', 'start'], serverLog, {
      cwd: dir,
    });
    const slot = server ? procs.indexOf(server) : -1;
    if (slot >= 0) procs[slot] = next;
    else procs.push(next);
    server = next;
    for (;;) {
      const conn = await Connection.connect({
        ...clusterConnectionOptions(address, tls),
        connectTimeout: 2_000,
      }).catch(() => undefined);
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
  return {
    pid: () => server?.child.pid,
    start,
    async kill() {
      const pid = server?.child.pid ?? 0;
      await stopProcess(server, 'SIGKILL');
      return pid;
    },
  };
}

/** Registers a namespace (none exists on a production server) and waits until it is usable. */
export async function registerNamespace(
  options: ConnectionOptions,
  name: string,
  retentionDays: number,
): Promise<void> {
  const conn = await Connection.connect(options);
  try {
    await conn.workflowService.registerNamespace({
      namespace: name,
      workflowExecutionRetentionPeriod: msToTs(retentionDays * 86_400_000),
    });
    // Usable once the frontend serves it (its namespace cache may lag the database).
    for (let i = 0; ; i++) {
      const ok = await conn.workflowService.countWorkflowExecutions({ namespace: name, query: '' }).then(
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
}

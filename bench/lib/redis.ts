// A private redis-server for the BullMQ contender: a free loopback port, its own temp directory,
// AOF on with fsync every second (BullMQ's usual durable setting), no RDB snapshots. Stopped by
// SHUTDOWN NOSAVE (SIGTERM if it does not answer) and its directory removed.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';

export interface RedisServer {
  port: number;
  pid: number;
  version: string;
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export async function startRedis(binary = 'redis-server'): Promise<RedisServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-bench-redis-'));
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--save',
    '',
    '--daemonize',
    'no',
    '--logfile',
    path.join(dir, 'redis.log'),
  ];
  const child = spawn(binary, args, { stdio: 'ignore' });
  const exited = once(child, 'exit');
  child.once('error', () => undefined);
  let client: Redis | undefined;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${binary} exited with code ${child.exitCode}`);
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.ping();
      client = c;
      break;
    } catch {
      c.disconnect();
      if (i > 100) {
        child.kill('SIGKILL');
        throw new Error(`${binary} did not answer on port ${port}`);
      }
      await delay(50);
    }
  }
  const info = await client.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  client.disconnect();
  return {
    port,
    pid: child.pid ?? -1,
    version,
    stop: async () => {
      if (child.exitCode === null) {
        const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
        c.on('error', () => undefined);
        await c.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
        c.disconnect();
        const done = await Promise.race([exited.then(() => true), delay(5_000, false)]);
        if (!done) {
          child.kill('SIGTERM');
          await exited;
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

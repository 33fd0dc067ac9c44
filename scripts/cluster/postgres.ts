// PostgreSQL for the cluster, in a directory of its own, and Temporal's two databases in it.
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/server/ports';
import { run, startProcess, tail, type Proc } from './processes';

export const PG_USER = 'temporal';
export const PG_PASSWORD = 'temporal';

/** PostgreSQL's binaries from Debian's packages (the newest major installed). */
export function postgresBin(): string {
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

export interface StartPostgresInput {
  /** The cluster's directory: the database goes in pg/, its socket in pg-sock/. */
  dir: string;
  /** The cluster's processes to stop: PostgreSQL is added as soon as it is started. */
  procs: Proc[];
  /** `name=value` settings laid over the ones below (a later -c wins). */
  settings?: string[];
  log: (msg: string) => void;
}

export interface StartedPostgres {
  port: number;
}

/** Phase 1: PostgreSQL, in a directory of its own, on a free port; resolves once it accepts connections. */
export async function startPostgres({
  dir,
  procs,
  settings = [],
  log,
}: StartPostgresInput): Promise<StartedPostgres> {
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
    ...settings.flatMap((s) => ['-c', s]),
  ]);
  const postgres: Proc = {
    ...startProcess(pg.file, pg.args, path.join(dir, 'postgres.log'), { cwd: dir }),
    stopSignal: 'SIGINT', // PostgreSQL's fast shutdown
  };
  procs.push(postgres);
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
  return { port: postgresPort };
}

export interface CreateTemporalSchemasInput {
  /** temporal-sql-tool. */
  sqlTool: string;
  /** The module's schema/postgresql directory (holds v12/temporal and v12/visibility). */
  schemaDir: string;
  postgresPort: number;
  log: (msg: string) => void;
}

/** Phase 2: Temporal's two databases and their schemas. */
export async function createTemporalSchemas({
  sqlTool,
  schemaDir,
  postgresPort,
  log,
}: CreateTemporalSchemasInput): Promise<void> {
  const sql = (db: string, args: string[]) =>
    run(
      sqlTool,
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
    await sql(db, ['update-schema', '-d', path.join(schemaDir, 'v12', schema, 'versioned')]);
  }
  log('Temporal schema created (temporal, temporal_visibility)');
}

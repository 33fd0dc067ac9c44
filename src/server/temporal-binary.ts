// The `temporal` executable itself: finding one on PATH and checking that a file is a working
// Temporal CLI. Shared by the lookup routes (provision.ts) and the installers (install-temporal.ts).
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

export const execFileAsync = promisify(execFile);

export type RouteName = 'TEMPORAL_CLI_PATH' | 'PATH' | 'DURABATCH_HOME' | 'pip' | 'sdk-download';

export interface ProvisionResult {
  path: string;
  route: RouteName;
  version?: string;
}

export type Outcome = { result?: ProvisionResult; detail: string };
export type Installer = (
  home: string,
  env: NodeJS.ProcessEnv,
  log: (msg: string) => void,
) => Promise<Outcome>;

const VERSION_TIMEOUT_MS = 30_000; // generous: first exec of a ~150 MB binary on a cold disk can be slow
export const EXE = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

export const isExecutable = (file: string) =>
  access(file, fsConstants.X_OK)
    .then(() => true)
    .catch(() => false);

type Probe = { ok: true; version?: string } | { ok: false; detail: string };

/** Ready-to-run check: executable regular file whose `--version` says it is the Temporal CLI. */
export async function probe(file: string, env: NodeJS.ProcessEnv): Promise<Probe> {
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
export function pathCandidates(name: string, env: NodeJS.ProcessEnv): string[] {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  return dirs.map((d) => path.join(d, name));
}

/** First executable `name` on PATH, as the shell would pick it. */
export async function which(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const candidate of pathCandidates(name, env)) if (await isExecutable(candidate)) return candidate;
  return undefined;
}

export const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function clip(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

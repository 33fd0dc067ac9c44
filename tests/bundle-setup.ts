// The workflow bundle of this checkout, built once per test run and handed to test files through
// `inject('workflowBundlePath')` (building it costs seconds). As a globalSetup it only bundles: the
// unit project replays recorded histories with it and needs no server. tests/global-setup.ts
// builds the same bundle with writeWorkflowBundle while its server starts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { bundleWorkflows } from '../src/worker/bundle';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The workflows of this checkout, bundled as a worker bundles them. */
    workflowBundlePath: string;
  }
}

/** Bundles the workflows into `dir`; returns the bundle's path. */
export async function writeWorkflowBundle(dir: string): Promise<string> {
  const file = path.join(dir, 'workflows-bundle.js');
  await writeFile(file, await bundleWorkflows());
  return file;
}

let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  dir = await mkdtemp(path.join(os.tmpdir(), 'durabatch-bundle-'));
  project.provide('workflowBundlePath', await writeWorkflowBundle(dir));
}

export async function teardown(): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

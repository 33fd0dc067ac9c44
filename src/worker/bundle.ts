// The workflow bundle. Building it costs seconds, so it is cached under DURABATCH_HOME keyed by the
// hash of the workflow sources and the SDK version: a second `durabatch run` starts at once.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import type { Logger } from 'pino';
import { packageRoot } from '../util/package-root';

export const WORKFLOWS_DIR = path.join(packageRoot(), 'workflows');
export const WORKFLOWS_ENTRY = path.join(WORKFLOWS_DIR, 'index.ts');
/** Workflow interceptors bundled with the workflows: every bundle of them must include these. */
export const WORKFLOW_INTERCEPTOR_MODULES = [path.join(WORKFLOWS_DIR, 'interceptors.ts')];

/**
 * Builds a bundle's code as a worker runs it (tests and the fixture of an old release's bundle use
 * this too, so that what they run is what a worker runs). `entry`/`interceptorModules`: another
 * checkout's workflows (default: this one's); `failureConverterPath`: as for workflowBundlePath.
 */
export async function bundleWorkflows(
  opts: { entry?: string; interceptorModules?: string[]; failureConverterPath?: string } = {},
): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: opts.entry ?? WORKFLOWS_ENTRY,
    workflowInterceptorModules: opts.interceptorModules ?? WORKFLOW_INTERCEPTOR_MODULES,
    ...(opts.failureConverterPath ? { failureConverterPath: opts.failureConverterPath } : {}),
    logger: new DefaultLogger('WARN'),
  });
  return code;
}

/** The cache key of a bundle of the workflow sources in `dir` (default workflows/) and the SDK's version. */
export async function sourcesHash(dir = WORKFLOWS_DIR): Promise<string> {
  const hash = createHash('sha256');
  const pkg = JSON.parse(
    await readFile(createRequire(WORKFLOWS_ENTRY).resolve('@temporalio/workflow/package.json'), 'utf8'),
  ) as { version: string };
  hash.update(pkg.version);
  // Every source under workflows/, subfolders included (workflows/lanes/): an edit anywhere is a new bundle.
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.ts')).sort();
  for (const f of files) hash.update(f).update(await readFile(path.join(dir, f)));
  return hash.digest('hex').slice(0, 16);
}

/**
 * Returns the path of a bundle of workflows/ (built now, or reused from the cache).
 * `failureConverterPath`: with the payload codec on, the converter that encodes failures (workflow
 * code turns its errors into failures inside the bundle, so it must hold the same converter).
 */
export async function workflowBundlePath(
  home: string,
  logger?: Logger,
  failureConverterPath?: string,
): Promise<string> {
  const dir = path.join(home, 'bundles');
  const variant = failureConverterPath
    ? `-${createHash('sha256')
        .update(await readFile(failureConverterPath))
        .digest('hex')
        .slice(0, 8)}`
    : '';
  const file = path.join(dir, `workflows-${await sourcesHash()}${variant}.js`);
  const cached = await readFile(file, 'utf8').catch(() => undefined);
  if (cached) return file;
  logger?.info('bundling workflow code (cached for next time)');
  const code = await bundleWorkflows({ failureConverterPath });
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, code);
  await rename(tmp, file);
  return file;
}

/** Text of src/codec/encoded-failures.cjs that webpack keeps in a bundle built with it. */
const FAILURE_CONVERTER_MARK = 'class EncodedFailureConverter extends DefaultFailureConverter';

/**
 * Whether a prebuilt bundle holds the failure converter that encodes failures: workflow code turns
 * its own errors into failures inside the bundle, so a bundle without it stores them in clear even
 * when the worker's data converter encrypts every payload.
 */
export async function bundleEncodesFailures(codePath: string): Promise<boolean> {
  const code = await readFile(codePath, 'utf8');
  return code.includes(FAILURE_CONVERTER_MARK);
}

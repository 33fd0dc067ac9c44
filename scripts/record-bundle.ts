// Records the workflow bundle of a given revision, for tests/e2e/upgrade-mid-batch.test.ts: batches
// started on a worker running that release's workflows must be finished by today's worker (the
// upgrade of a worker fleet while batches run). CI has no history beyond its checkout, so the old
// code travels as this fixture rather than a git revision.
//   npx tsx scripts/record-bundle.ts --engine <rev> [--out tests/bundles/<rev>.js.gz]
// The revision's workflows are extracted (bench/lib/engine.ts checkout) and bundled as a worker
// bundles them (src/worker/bundle.ts), with the entry and interceptors that revision names; gzipped.
import { rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { checkout, commitOf } from '../bench/lib/engine';
import { bundleWorkflows } from '../src/worker/bundle';

const { values } = parseArgs({ options: { engine: { type: 'string' }, out: { type: 'string' } } });
if (!values.engine) throw new Error('give --engine <git revision>: the release whose workflows to bundle');
const root = checkout(values.engine);
const extracted = root !== path.resolve(values.engine);
try {
  const commit = commitOf(root);
  const out = path.resolve(values.out ?? path.join('tests', 'bundles', `${commit}.js.gz`));
  const old = (await import(pathToFileURL(path.join(root, 'src/worker/bundle.ts')).href)) as {
    WORKFLOWS_ENTRY: string;
    WORKFLOW_INTERCEPTOR_MODULES: string[];
  };
  const code = await bundleWorkflows({
    entry: old.WORKFLOWS_ENTRY,
    interceptorModules: old.WORKFLOW_INTERCEPTOR_MODULES,
  });
  writeFileSync(out, gzipSync(code, { level: 9 }));
  const kb = (n: number) => `${Math.round(n / 1024)} KiB`;
  console.log(
    `bundled ${commit}'s workflows into ${path.relative(process.cwd(), out)}: ` +
      `${kb(statSync(out).size)} (${kb(Buffer.byteLength(code))} unzipped)`,
  );
} finally {
  if (extracted) rmSync(root, { recursive: true, force: true });
}

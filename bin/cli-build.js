// The CLI runs as JavaScript bundled by esbuild, not through tsx: compiling TypeScript on every
// start cost 1–4 s per command. The build is keyed by a fingerprint of the sources (path, size,
// mtime), so an edited checkout rebuilds itself on its next start (~0.3 s) and can never run stale
// code. Builds go to node_modules/.cache/durabatch-cli/<fingerprint>/, written to a temporary
// directory first and renamed into place, so concurrent starts never see half a build.
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Everything the CLI bundle is built from (workflows/ for its types and message definitions). */
const SOURCE_DIRS = ['src', 'activities', 'workflows'];
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'durabatch-cli');
const KEEP_BUILDS = 3;

/** @param {string} dir @param {import('node:crypto').Hash} hash */
function addTree(dir, hash) {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) addTree(full, hash);
    else if (/\.(ts|js|json)$/.test(entry.name)) {
      const st = statSync(full);
      hash.update(`${path.relative(ROOT, full)}\0${st.size}\0${st.mtimeMs}\n`);
    }
  }
}

function fingerprint() {
  const hash = createHash('sha256');
  for (const dir of SOURCE_DIRS) addTree(path.join(ROOT, dir), hash);
  hash.update(String(statSync(path.join(ROOT, 'package.json')).mtimeMs));
  return hash.digest('hex').slice(0, 16);
}

/** Oldest builds go; a build another process is still running from stays loaded in its memory. */
function pruneOldBuilds(current) {
  let builds;
  try {
    builds = readdirSync(CACHE)
      .filter((d) => d !== current && !d.includes('.tmp-'))
      .map((d) => ({ d, t: statSync(path.join(CACHE, d)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
  } catch {
    return;
  }
  for (const { d } of builds.slice(KEEP_BUILDS - 1))
    rmSync(path.join(CACHE, d), { recursive: true, force: true });
}

/** Bundles src/cli/main.ts into `dir` (code split: each command's heavy imports load on demand). */
async function build(dir) {
  // Unwritable (a read-only install): fails here with EACCES/EROFS, which bin/durabatch.js handles.
  mkdirSync(CACHE, { recursive: true });
  accessSync(CACHE, constants.W_OK);
  const { build: esbuild } = await import('esbuild');
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await esbuild({
    absWorkingDir: ROOT,
    entryPoints: { main: 'src/cli/main.ts' },
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Dependencies stay in node_modules: the Temporal SDK's native bridge and workflow bundler
    // must be loaded from their own packages.
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'error',
  });
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // Another process finished the same build first: theirs is identical.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'main.js'))) throw err;
  }
  pruneOldBuilds(path.basename(dir));
}

/** The path of the current build's entry, building it first if the sources changed. */
export async function cliEntry() {
  const dir = path.join(CACHE, fingerprint());
  const entry = path.join(dir, 'main.js');
  if (!existsSync(entry)) await build(dir);
  return entry;
}

// `node bin/cli-build.js` (npm's `prepare`, run by `npm install`): build ahead of the first start.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const entry = await cliEntry();
  process.stdout.write(
    `durabatch CLI built: ${path.relative(ROOT, entry)} (${Math.round(performance.now() - started)} ms)\n`,
  );
}

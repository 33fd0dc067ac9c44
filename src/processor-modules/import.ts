// Importing a user's module processor. Through tsx's scoped loader, so a module loads the same way
// whatever this process runs under (the bundled CLI, tsx, a program embedding the worker, vitest):
// TypeScript or JavaScript, ES module or CommonJS, with or without a package.json of its own.
// A module that imports `durabatch` where no durabatch is installed (a file in /tmp, a folder of
// scripts) gets this worker's module API (src/sdk.ts: NonRetryableError and the types) instead of
// "Cannot find package 'durabatch'". A module inside a project that installed durabatch gets that
// install, as Node would resolve it.
import Module, { createRequire, register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../util/package-root';

const SPECIFIER = 'durabatch';

/** The module API file given to modules that cannot resolve `durabatch` themselves. */
export function sdkFile(): string {
  return path.join(packageRoot(), 'src', 'sdk.ts');
}

let installed = false;

/**
 * Resolution of `durabatch` as a fallback, for both module systems: a resolve hook for `import`
 * (Node's module.register, in the loader thread) and a wrapper of CommonJS resolution for
 * `require` (tsx loads a CommonJS-format .ts file through it). Both defer to Node's own resolution
 * first, so nothing that resolves today resolves differently.
 */
function installSdkFallback(): void {
  if (installed) return;
  installed = true;
  const file = sdkFile();
  const hook = `export async function resolve(specifier, context, next) {
  if (specifier !== ${JSON.stringify(SPECIFIER)}) return next(specifier, context);
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return { url: ${JSON.stringify(pathToFileURL(file).href)}, shortCircuit: true };
  }
}`;
  // module.register arrived in Node 20.6; without it only `require` gets the fallback.
  if (typeof register === 'function') register(`data:text/javascript,${encodeURIComponent(hook)}`);
  const cjs = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolveFilename = cjs._resolveFilename;
  cjs._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    try {
      return resolveFilename.call(this, request, ...rest);
    } catch (err) {
      if (request !== SPECIFIER || (err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      loadSdkForRequire(file);
      return file;
    }
  };
}

/**
 * A plain CommonJS module (`.cjs`) is required without tsx, and Node alone cannot compile the
 * TypeScript of src/sdk.ts: compile it once through tsx and put it in require's cache, where
 * `require('durabatch')` then finds it.
 */
function loadSdkForRequire(file: string): void {
  const cache = (Module as unknown as { _cache: Record<string, NodeJS.Module> })._cache;
  if (cache[file]) return;
  const require = createRequire(import.meta.url);
  const tsx = require('tsx/cjs/api') as typeof import('tsx/cjs/api');
  const sdk = new Module(file) as NodeJS.Module & { filename: string; loaded: boolean };
  sdk.filename = file;
  sdk.exports = tsx.require(file, import.meta.url) as unknown;
  sdk.loaded = true;
  cache[file] = sdk;
}

/**
 * Imports the module at `file` (absolute) and returns its namespace. Every call loads the file
 * afresh (tsx scopes each import), so a module fixed after a failed load is read again.
 */
export async function importUserModule(file: string): Promise<{ default?: unknown }> {
  installSdkFallback();
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(pathToFileURL(file).href, { parentURL: import.meta.url })) as { default?: unknown };
}

#!/usr/bin/env node
// Runs the CLI from its esbuild bundle (rebuilt automatically when the sources change; see
// cli-build.js): plain JavaScript starts in a fraction of the time tsx needs to compile TypeScript.
// Where no build can be written (a read-only install), it runs the TypeScript sources through tsx.
import { pathToFileURL } from 'node:url';
import { cliEntry } from './cli-build.js';

let entry;
try {
  entry = pathToFileURL(await cliEntry()).href;
} catch (err) {
  if (!['EACCES', 'EPERM', 'EROFS'].includes(err?.code)) throw err;
  const { register } = await import('tsx/esm/api');
  register();
  entry = new URL('../src/cli/main.ts', import.meta.url).href;
}
await import(entry);

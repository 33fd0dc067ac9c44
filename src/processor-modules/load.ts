// A module processor's function, loaded once per path and process: the user's
// `export default async function process(item, ctx)`. The worker's module processor
// (activities/processors/module.ts) calls it on every attempt; `run` and `plan` call
// checkModulesLoad before a batch starts, so a module `run` checked stays loaded for its worker.
import type { StepSpec } from '../../workflows/types';
import { InputError } from '../errors';
import type { ProcessFunction } from '../sdk';
import { importUserModule } from './import';

const loaded = new Map<string, Promise<ProcessFunction>>();

export function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function importProcessFunction(file: string): Promise<ProcessFunction> {
  let mod: { default?: unknown };
  try {
    mod = await importUserModule(file);
  } catch (err) {
    throw new Error(`module ${file} could not be loaded: ${describeError(err)}`, { cause: err });
  }
  // A CommonJS build of `export default` arrives as `{ default: { default: fn } }`.
  const candidate = mod.default as { default?: unknown } | undefined;
  const fn = typeof candidate === 'function' ? candidate : candidate?.default;
  if (typeof fn !== 'function') {
    throw new Error(
      `module ${file} has no default export function: write \`export default async function process(item, ctx) { … }\``,
    );
  }
  return fn as ProcessFunction;
}

/**
 * The module's function, imported once per path. A failed load is forgotten, so the next call
 * imports the file afresh (a fixed file loads); it rejects with an Error naming the file.
 */
export function loadProcessFunction(file: string): Promise<ProcessFunction> {
  let promise = loaded.get(file);
  if (!promise) {
    promise = importProcessFunction(file);
    loaded.set(file, promise);
    promise.catch(() => loaded.delete(file));
  }
  return promise;
}

/**
 * Loads every module the steps use, as the worker will, so a module that cannot be imported (missing
 * file, a throw in its top-level code, no default export function) is refused before a batch starts
 * instead of failing every item with ModuleLoadError.
 */
export async function checkModulesLoad(steps: StepSpec[]): Promise<void> {
  for (const step of steps) {
    if (step.processor.type !== 'module') continue;
    try {
      await loadProcessFunction(step.processor.module);
    } catch (err) {
      const where = steps.length > 1 ? `step "${step.name}": ` : '';
      throw new InputError(
        `${where}${(err as Error).message}`,
        'fix the module (its top-level code runs when a worker imports it), or give another --module',
      );
    }
  }
}

// A worker's allow-list from its settings (config file `allow`, DURABATCH_ALLOW_*, `durabatch worker
// --allow-*` flags), and the line a worker logs about it at start.
// The check itself runs in the processItem activity (activities/processors/allow-list.ts).
import path from 'node:path';
import type { AllowSettings } from '../config/allow';
import type { ProcessorSpec, StepSpec } from '../../workflows/types';

/**
 * Programs (a name looked up on the worker's PATH, or an absolute path), module paths (a file, or a
 * directory holding allowed modules), http origins (`https://host:port`) and storage roots (the
 * directories a batch's output directory and staged source must lie in). `*` allows any.
 */
export interface ProcessorAllowList {
  commands: readonly string[];
  modules: readonly string[];
  origins: readonly string[];
  paths: readonly string[];
  /**
   * Whole processors this worker runs as they are, whatever the lists say: the in-process worker
   * of `run` / `retry-failed --follow` runs its own batch's steps (canonicalProcessor of each), and
   * nothing else that merely shares their program, module or origin.
   */
  processors?: readonly string[];
  /**
   * Variables a batch may set for a listed program: names, `PREFIX_*`, `*`; SAFE_BATCH_ENV always.
   * Absent: only those.
   */
  env?: readonly string[];
}

/** Variables a batch may always set for a listed program: they choose a language or a time zone. */
export const SAFE_BATCH_ENV: readonly string[] = ['LANG', 'LC_*', 'TZ'];

/** Whether `name` is one of `patterns` (a name, a prefix ending in `*`, or `*`). */
export function envNameAllowed(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

export const ANY = '*';

/** Runs whatever a batch names: for tests and embedders that trust everyone who can reach Temporal. */
export const ALLOW_ANY: ProcessorAllowList = {
  commands: [ANY],
  modules: [ANY],
  origins: [ANY],
  paths: [ANY],
};

/** Runs nothing: a standalone `durabatch worker` whose operator listed nothing. */
export const ALLOW_NONE: ProcessorAllowList = { commands: [], modules: [], origins: [], paths: [] };

export function mergeAllowLists(...lists: Partial<ProcessorAllowList>[]): ProcessorAllowList {
  const union = (k: keyof ProcessorAllowList) => [...new Set(lists.flatMap((l) => l[k] ?? []))];
  const processors = union('processors');
  const env = union('env');
  return {
    commands: union('commands'),
    modules: union('modules'),
    origins: union('origins'),
    paths: union('paths'),
    ...(processors.length > 0 ? { processors } : {}),
    ...(env.length > 0 ? { env } : {}),
  };
}

/**
 * The storage every worker allows on top of its settings: DURABATCH_HOME (staged sources) and the
 * default output root, `output/` under the working directory (where `run` and `start` put a batch
 * without --output-dir).
 */
export function defaultStorageRoots(home: string, cwd = process.cwd()): string[] {
  return [path.resolve(home), path.resolve(cwd, 'output')];
}

/** JSON with object keys sorted and undefined fields left out, as a value reads after a round trip. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => stableJson(v ?? null)).join(',')}]`;
  if (value && typeof value === 'object') {
    const fields = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The whole processor as one string: every field (argv template, cwd, env, allowOptionValues; URL
 * template, method, headers, body, TLS files; module path; limits too), so two processors are the
 * same only when a worker would run them the same way. Key order and absent fields do not count.
 */
export function canonicalProcessor(spec: ProcessorSpec): string {
  return stableJson(spec);
}

/** `https://Example.com:443/x` → `https://example.com`; undefined when not an http(s) URL. */
export function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The allow-list a batch's own steps need: what `durabatch run` hands its in-process worker (the
 * batch's processors are what the user asked for). Each step's whole processor is allowed, not its
 * program, module or origin: that worker polls a shared task queue, and a forged batch naming
 * `python3 -c …` must not run because the user's batch runs `python3 score.py {id}`.
 */
export function allowListOfSteps(steps: readonly StepSpec[]): ProcessorAllowList {
  return { ...ALLOW_NONE, processors: [...new Set(steps.map((s) => canonicalProcessor(s.processor)))] };
}

export function allowListOf(settings: AllowSettings | ProcessorAllowList | undefined): ProcessorAllowList {
  return settings ? mergeAllowLists(ALLOW_NONE, settings) : ALLOW_NONE;
}

/**
 * The in-process worker of `run` and `retry-failed --follow`: what its settings allow, plus the
 * exact processors of the batch it was started for (the user asked for them, and only them) and its
 * storage: the batch's output directory and DURABATCH_HOME, where its source is staged.
 */
export function allowListForBatch(
  settings: AllowSettings | ProcessorAllowList | undefined,
  steps: readonly StepSpec[] = [],
  storage: { home?: string; outputDir?: string } = {},
): ProcessorAllowList {
  const paths = [storage.home, storage.outputDir].filter((p): p is string => !!p).map((p) => path.resolve(p));
  return mergeAllowLists(allowListOf(settings), allowListOfSteps(steps), { paths });
}

/** A standalone `durabatch worker`: its settings plus DURABATCH_HOME and the default output root. */
export function allowListForWorker(settings: AllowSettings | undefined, home: string): ProcessorAllowList {
  return mergeAllowLists(allowListOf(settings), { paths: defaultStorageRoots(home) });
}

/** For the worker's start line: `commands: convert, /opt/bin/x; modules: none; origins: any`. */
export function describeAllowList(allow: ProcessorAllowList): Record<string, string> {
  const show = (l: readonly string[]) => (l.includes(ANY) ? 'any' : l.length === 0 ? 'none' : l.join(', '));
  return {
    commands: show(allow.commands),
    modules: show(allow.modules),
    origins: show(allow.origins),
    paths: show(allow.paths),
    env: show([...SAFE_BATCH_ENV, ...(allow.env ?? [])]),
    ...(allow.processors?.length ? { batchProcessors: `${allow.processors.length} (exactly as given)` } : {}),
  };
}

/** No processor at all (storage roots alone run nothing). */
export function allowsNothing(allow: ProcessorAllowList): boolean {
  return (
    allow.commands.length + allow.modules.length + allow.origins.length + (allow.processors?.length ?? 0) ===
    0
  );
}

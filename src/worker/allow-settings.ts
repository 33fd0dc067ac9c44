// A worker's allow-list from its settings (config file `allow`, DURABATCH_ALLOW_*, `durabatch worker
// --allow-*` flags), and the line a worker logs about it at start.
// The check itself runs in the processItem activity (activities/processors/allow-list.ts).
import path from 'node:path';
import type { AllowSettings } from '../config/allow';
import type { StepSpec } from '../../workflows/types';

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
}

export const ANY = '*';

const PLACEHOLDER = /\{[A-Za-z0-9_.-]+\}/;

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
  return {
    commands: union('commands'),
    modules: union('modules'),
    origins: union('origins'),
    paths: union('paths'),
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
 * batch's processor is what the user asked for). A program or origin chosen by an item value (a
 * placeholder in it) cannot be listed beforehand: the user asked for any, so any is allowed.
 */
export function allowListOfSteps(steps: readonly StepSpec[]): ProcessorAllowList {
  const list = { commands: [] as string[], modules: [] as string[], origins: [] as string[], paths: [] };
  for (const { processor: p } of steps) {
    if (p.type === 'command') list.commands.push(p.argv[0] && !PLACEHOLDER.test(p.argv[0]) ? p.argv[0] : ANY);
    else if (p.type === 'module') list.modules.push(path.resolve(p.module));
    else {
      // The origin is everything before the path: a placeholder there lets an item pick the host.
      const head = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(p.url)?.[0] ?? p.url;
      list.origins.push(PLACEHOLDER.test(head) ? ANY : (originOf(head) ?? ANY));
    }
  }
  return mergeAllowLists(list);
}

export function allowListOf(settings: AllowSettings | undefined): ProcessorAllowList {
  return settings ? mergeAllowLists(ALLOW_NONE, settings) : ALLOW_NONE;
}

/**
 * The in-process worker of `run` and `retry-failed --follow`: what its settings allow, plus the
 * processors of the batch it was started for (the user asked for them) and its storage: the batch's
 * output directory and DURABATCH_HOME, where its source is staged.
 */
export function allowListForBatch(
  settings: AllowSettings | undefined,
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
  };
}

/** No processor at all (storage roots alone run nothing). */
export function allowsNothing(allow: ProcessorAllowList): boolean {
  return allow.commands.length + allow.modules.length + allow.origins.length === 0;
}

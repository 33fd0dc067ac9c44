// The worker's allow-list settings: what a worker agrees to run, whoever started the batch. Part of
// the Config schema (src/config/schema.ts), read by `durabatch worker` (and added to by `run`, whose
// in-process worker also runs its own batch's processors, exactly as given).
import path from 'node:path';
import { z } from 'zod';

/** A list given as text (a flag or an environment variable): comma-separated, or a JSON array. */
const list = <T extends z.ZodType>(entry: T) =>
  z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    const text = value.trim();
    if (text.startsWith('[')) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return value; // reported by the array check below
      }
    }
    return text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }, z.array(entry));

const ANY = '*';

const Program = z
  .string()
  .trim()
  .min(1)
  .refine((p) => !/[{}]/.test(p), 'a program name or absolute path, without placeholders');

const ModulePath = z
  .string()
  .trim()
  .min(1)
  .transform((p) => (p === ANY ? p : path.resolve(p)));

const StorageRoot = z
  .string()
  .trim()
  .min(1)
  .transform((p) => (p === ANY ? p : path.resolve(p)));

const Origin = z
  .string()
  .trim()
  .min(1)
  .transform((value, ctx) => {
    if (value === ANY) return value;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (
      !url ||
      !['http:', 'https:'].includes(url.protocol) ||
      url.username ||
      url.password ||
      url.pathname !== '/' ||
      url.search ||
      url.hash
    ) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be an origin: scheme, host and optional port, e.g. https://api.example.com:8443',
      });
      return z.NEVER;
    }
    return url.origin;
  });

const EnvName = z
  .string()
  .trim()
  .regex(
    /^(\*|[A-Za-z_][A-Za-z0-9_]*\*?)$/,
    'a variable name, or a prefix ending in * (MYAPP_*), or * for any',
  );

export const AllowSettings = z.strictObject({
  /**
   * Programs batches may run on this worker (`durabatch worker --allow-command`): names looked up on
   * the worker's PATH (`convert`) or absolute paths, `*` for any. A listed program runs with any
   * arguments and working directory a batch gives it, and with the variables `allow.env` lets a batch
   * set. Allow no shell, interpreter or program that runs others (`sh`, `python`, `curl`, `git`,
   * `ssh`, `tar`, `find`, `env`…). Default: none (a `durabatch run` worker also runs its own batch's
   * processors, exactly as given).
   */
  commands: list(Program).default([]),
  /**
   * Module processors batches may load on this worker (`--allow-module`): files, or directories whose modules are all
   * allowed (symlinks resolved), `*` for any. Default: none (a `durabatch run` worker also runs
   * its own batch's processors, exactly as given).
   */
  modules: list(ModulePath).default([]),
  /**
   * Origins http processors may call from this worker (`--allow-origin`), e.g.
   * `https://api.example.com`, `*` for any.
   * Checked on the URL expanded from the item. Default: none (a `durabatch run` worker also runs
   * its own batch's processors, exactly as given).
   */
  origins: list(Origin).default([]),
  /**
   * Directories a batch's output directory and staged source must lie in on this worker
   * (`--allow-path`), symlinks resolved, `*` for any: a batch names both paths, so without this
   * anyone who can start a workflow chooses where the worker writes and reads. Always allowed on
   * top: DURABATCH_HOME and `output/` under the working directory (a `durabatch run` worker: its
   * home and its batch's output directory). Default: none more.
   */
  paths: list(StorageRoot).default([]),
  /**
   * Environment variables a batch may set for a listed program (`--allow-env`): names, prefixes
   * ending in `*` (`MYAPP_*`), `*` for any. `LANG`, `LC_*` and `TZ` are always allowed; any other
   * variable a batch sets is refused: `LD_PRELOAD`, `BASH_FUNC_*`, `GIT_*`, `PYTHONPATH` and many
   * more make a program run other code. Default: none besides those.
   */
  env: list(EnvName).default([]),
});
export type AllowSettings = z.infer<typeof AllowSettings>;

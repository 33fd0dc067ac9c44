// The batch flags (./batch-flags.ts) as commander options, and as settings: what run, start, plan,
// config and retry-failed hand to the config loader.
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load';
import type { Config } from '../config/schema';
import {
  BATCH_FLAGS,
  type BatchFlags,
  type FlagKey,
  type FlagParser,
  type FlagSpec,
  type SettingPath,
} from './batch-flags';
import { parseDuration, parseHeaders, schemaText } from './flag-values';

export type { BatchFlags, FlagKey } from './batch-flags';

export const FLAG_KEYS = Object.keys(BATCH_FLAGS) as FlagKey[];

/** `targetCa` → `--target-ca`: commander reads `--target-ca` back as `targetCa`. */
export const flagName = (key: FlagKey): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** An entry, seen through the general shape (the table's own type knows each entry's literals). */
const specOf = (key: FlagKey): FlagSpec => BATCH_FLAGS[key];

/** The settings a flag sets (one, or one per processor). */
export const fieldsOf = (key: FlagKey): readonly SettingPath[] => {
  const { field } = specOf(key);
  return typeof field === 'string' ? [field] : field;
};

/** Setting → flag, so a validation error names the flag given (`flag --concurrency: ...`). */
export const FLAG_OF_SETTING: Record<string, string> = Object.fromEntries(
  FLAG_KEYS.flatMap((key) => fieldsOf(key).map((field) => [field, flagName(key)])),
);

/** The flags retry-failed takes, in help order. */
export const RETRY_FLAG_KEYS = FLAG_KEYS.filter((key) => specOf(key).retry !== undefined);

/** Flags that change a processor's settings (or its kind) rather than the batch's. */
export const isProcessorFlag = (key: FlagKey): boolean =>
  fieldsOf(key).some((f) => f === 'processor' || /^(http|command|module)\./.test(f));

/** How settings combine, strongest first (shown by `durabatch config`). */
export const CONFIG_PRECEDENCE = 'flags > DURABATCH_* environment > config file > defaults';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function addFlags(cmd: Command, keys: readonly FlagKey[], helpOf: (key: FlagKey) => string): Command {
  for (const key of keys) {
    const spec = specOf(key);
    const flags = spec.arg ? `${flagName(key)} ${spec.arg}` : flagName(key);
    if (spec.repeat) cmd.option(flags, helpOf(key), collect);
    else cmd.option(flags, helpOf(key));
  }
  return cmd;
}

/** The options of the commands that define a batch: run, start, plan, config. */
export function addBatchOptions(cmd: Command): Command {
  cmd.option('--config <file>', 'JSON config file (flags > DURABATCH_* env > file > defaults)');
  return addFlags(cmd, FLAG_KEYS, (key) => specOf(key).help);
}

/** The options of retry-failed: the flags that may change a failed batch's settings. */
export function addRetryFailedOptions(cmd: Command): Command {
  return addFlags(cmd, RETRY_FLAG_KEYS, (key) => {
    const { help, retry } = specOf(key);
    return typeof retry === 'string' ? retry : help;
  });
}

const PARSERS: Record<FlagParser, (value: never, flag: string) => unknown> = {
  duration: (value: string, flag) => parseDuration(value, flag),
  headers: (value: string[]) => parseHeaders(value),
  jsonOrFile: (value: string) => schemaText(value),
};

/**
 * The settings the flags given set, shaped like Config: a settings group (http, ...) appears only
 * when one of its flags is given, and a flag naming a field of each processor (`--timeout`) sets
 * that of `processor`.
 */
export async function settingsFromFlags(
  flags: BatchFlags,
  processor: Config['processor'],
): Promise<Record<string, unknown>> {
  const settings: Record<string, unknown> = {};
  for (const key of FLAG_KEYS) {
    const raw = flags[key];
    if (raw === undefined) continue;
    const { parse } = specOf(key);
    const value = parse ? await PARSERS[parse](raw as never, flagName(key)) : raw;
    const fields = fieldsOf(key);
    for (const field of fields.length > 1 ? fields.filter((f) => f.startsWith(`${processor}.`)) : fields) {
      const [group, name] = field.split('.') as [string, string?];
      if (name === undefined) settings[group] = value;
      else settings[group] = { ...(settings[group] as object | undefined), [name]: value };
    }
  }
  return settings;
}

/** The batch's settings from flags, environment and config file, with where each value came from. */
export async function loadBatchConfig(
  flags: BatchFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedConfig> {
  const processor = flags.processor ?? (flags.command ? 'command' : flags.module ? 'module' : undefined);
  const values = await settingsFromFlags(flags, (processor ?? 'http') as Config['processor']);
  values.processor = processor;
  // The schema (zod) loads only when a batch is being defined, not for `--help`.
  const { loadConfig } = await import('../config/load');
  return loadConfig({ file: flags.config, env, flags: values, flagNames: FLAG_OF_SETTING });
}

/** The settings of plan, start and run; a literal credential in a header is warned about on stderr. */
export async function resolveBatchConfig(
  flags: BatchFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Config> {
  const { config, sources } = await loadBatchConfig(flags, env);
  const { literalCredentialWarnings } = await import('../config/credentials');
  for (const warning of literalCredentialWarnings(config, sources)) process.stderr.write(`${warning}\n`);
  return config;
}

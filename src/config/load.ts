// Effective configuration: defaults < config file < DURABATCH_* environment < CLI flags. Every
// value remembers where it came from, so a validation error names the flag, variable or file, and
// `durabatch config` can show each value's origin.
import path from 'node:path';
import { InputError } from '../errors';
import { readFileBounded } from '../util/bounded-read';
import { AllowSettings } from './allow';
import { ApiSettings } from './api';
import { CommandSettings, HttpSettings, ModuleSettings } from './processors';
import { Config, formatConfigIssues, type SettingSources } from './schema';

type Plain = Record<string, unknown>;

/** Nested settings groups and their fields, for `DURABATCH_<GROUP>_<FIELD>` variables. */
export const SETTING_GROUPS: Record<string, Record<string, unknown>> = {
  http: HttpSettings.shape,
  command: CommandSettings.shape,
  module: ModuleSettings.shape,
  logLevels: Config.shape.logLevels.unwrap().shape,
  allow: AllowSettings.shape,
  api: ApiSettings.shape,
};

/**
 * `maxFailureRate` → `DURABATCH_MAX_FAILURE_RATE`; `http.timeoutMs` → `DURABATCH_HTTP_TIMEOUT_MS`.
 * Per-operation log levels read as `DURABATCH_LOG_LEVEL_<OPERATION>`, next to `DURABATCH_LOG_LEVEL`.
 */
export function envName(fieldPath: string): string {
  const field = fieldPath.replace(/^logLevels\./, 'logLevel.');
  return (
    'DURABATCH_' +
    field
      .replace(/\./g, '_')
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .toUpperCase()
  );
}

/** Where a value came from: the layer, and a label naming the flag, variable or file and field. */
export interface SettingOrigin {
  kind: 'file' | 'env' | 'flag';
  /** The file path, variable name or flag name. */
  name: string;
  label: string;
}
export type SettingOrigins = Partial<Record<string, SettingOrigin>>;

function readEnv(env: NodeJS.ProcessEnv, note: (field: string, origin: SettingOrigin) => void): Plain {
  const out: Plain = {};
  const visit = (shape: Record<string, unknown>, prefix: string, target: Plain) => {
    for (const key of Object.keys(shape)) {
      const field = prefix ? `${prefix}.${key}` : key;
      const group = SETTING_GROUPS[field];
      if (group) {
        const nested: Plain = {};
        visit(group, field, nested);
        if (Object.keys(nested).length > 0) target[key] = nested;
        continue;
      }
      const name = envName(field);
      const value = env[name];
      if (value === undefined || value === '') continue;
      // Structured values (headers, exit codes, steps) are JSON text; the schema parses them.
      target[key] = value;
      note(field, { kind: 'env', name, label: `environment variable ${name}` });
    }
  };
  visit(Config.shape, '', out);
  return out;
}

function merge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] =
      prev &&
      typeof prev === 'object' &&
      !Array.isArray(prev) &&
      v &&
      typeof v === 'object' &&
      !Array.isArray(v)
        ? merge(prev as Plain, v as Plain)
        : v;
  }
  return out;
}

const isContainer = (v: unknown): v is Plain => v !== null && typeof v === 'object';

/**
 * Records the origin of every value given. Flags recurse only into settings groups (a header map is
 * one flag); a file records every level, so an error deep inside `steps` names its exact place.
 */
function noteValues(
  values: Plain,
  origin: (field: string) => SettingOrigin,
  note: (f: string, o: SettingOrigin) => void,
  deep: boolean,
  prefix = '',
): void {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    const field = prefix ? `${prefix}.${k}` : k;
    const group = Boolean(SETTING_GROUPS[field]) && isContainer(v);
    if (!group || deep) note(field, origin(field));
    if ((group || deep) && isContainer(v)) noteValues(v, origin, note, deep, field);
  }
}

export interface LoadConfigInput {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from CLI flags, shaped like Config. */
  flags?: Plain;
  /** Field path → flag name, for messages (e.g. `concurrency` → `--concurrency`). */
  flagNames?: Record<string, string>;
  /** The command whose help an invalid setting points to (default `durabatch run`). */
  command?: string;
}

export interface LoadedConfig {
  config: Config;
  /** Field path → label for messages (`flag --concurrency`, `environment variable ...`). */
  sources: SettingSources;
  /** Field path → layer and label, for every value not left at its default. */
  origins: SettingOrigins;
  /** The config file read, as an absolute path. */
  file?: string;
}

/** A config file is settings, not data: far below this. Bounds a wrong path (a dump, a FIFO). */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

async function readConfigFile(file: string): Promise<Plain> {
  const naming = { what: `config file ${file}`, hint: 'check --config' };
  const text = await readFileBounded(file, MAX_CONFIG_FILE_BYTES, naming).catch(
    (err: NodeJS.ErrnoException) => {
      if (err instanceof InputError) throw err;
      throw new InputError(`cannot read config file ${file}: ${err.code ?? err.message}`, 'check --config');
    },
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InputError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isContainer(parsed) || Array.isArray(parsed)) {
    throw new InputError(
      `config file ${file} must hold one JSON object of settings`,
      'see config/*.json for templates',
    );
  }
  // JSON has no comments: templates explain their settings in a top-level "$comment" object.
  delete parsed.$comment;
  return parsed;
}

export async function loadConfig(input: LoadConfigInput): Promise<LoadedConfig> {
  const sources: SettingSources = {};
  const origins: SettingOrigins = {};
  const note = (field: string, origin: SettingOrigin) => {
    sources[field] = origin.label;
    origins[field] = origin;
  };
  const file = input.file ? path.resolve(input.file) : undefined;
  const fromFile = file ? await readConfigFile(file) : {};
  if (file) noteValues(fromFile, (f) => ({ kind: 'file', name: file, label: `${file}: "${f}"` }), note, true);
  const fromEnv = readEnv(input.env ?? process.env, note);
  const flags = input.flags ?? {};
  const flagName = (f: string) => input.flagNames?.[f] ?? f;
  noteValues(flags, (f) => ({ kind: 'flag', name: flagName(f), label: `flag ${flagName(f)}` }), note, false);
  const merged = merge(merge(fromFile, fromEnv), flags);
  const parsed = Config.safeParse(merged);
  if (!parsed.success) {
    throw new InputError(
      `invalid settings:\n${formatConfigIssues(parsed.error, sources, merged)}`,
      `see \`${input.command ?? 'durabatch run'} --help\``,
    );
  }
  return { config: parsed.data, sources, origins, file };
}

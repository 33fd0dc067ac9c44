// Effective configuration: defaults < config file < DURABATCH_* environment < CLI flags. Every
// value remembers where it came from, so a validation error names the flag, variable or file.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors';
import { CommandSettings, HttpSettings, ModuleSettings } from './processors';
import { Config, formatConfigIssues, type SettingSources } from './schema';

type Plain = Record<string, unknown>;

/** Nested settings groups and their fields, for `DURABATCH_<GROUP>_<FIELD>` variables. */
const NESTED: Record<string, Record<string, unknown>> = {
  http: HttpSettings.shape,
  command: CommandSettings.shape,
  module: ModuleSettings.shape,
};

/** `maxFailureRate` → `DURABATCH_MAX_FAILURE_RATE`; `http.timeoutMs` → `DURABATCH_HTTP_TIMEOUT_MS`. */
export function envName(fieldPath: string): string {
  return 'DURABATCH_' + fieldPath.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function readEnv(env: NodeJS.ProcessEnv, sources: SettingSources): Plain {
  const out: Plain = {};
  const visit = (shape: Record<string, unknown>, prefix: string, target: Plain) => {
    for (const key of Object.keys(shape)) {
      const field = prefix ? `${prefix}.${key}` : key;
      const group = NESTED[field];
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
      sources[field] = `environment variable ${name}`;
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
    out[k] = prev && typeof prev === 'object' && !Array.isArray(prev) && v && typeof v === 'object' && !Array.isArray(v)
      ? merge(prev as Plain, v as Plain)
      : v;
  }
  return out;
}

function noteSources(values: Plain, label: (field: string) => string, sources: SettingSources, prefix = ''): void {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    const field = prefix ? `${prefix}.${k}` : k;
    if (NESTED[field] && v && typeof v === 'object') noteSources(v as Plain, label, sources, field);
    else sources[field] = label(field);
  }
}

export interface LoadConfigInput {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from CLI flags, shaped like Config. */
  flags?: Plain;
  /** Field path → flag name, for messages (e.g. `concurrency` → `--concurrency`). */
  flagNames?: Record<string, string>;
}

export async function loadConfig(input: LoadConfigInput): Promise<{ config: Config; sources: SettingSources }> {
  const sources: SettingSources = {};
  let fromFile: Plain = {};
  if (input.file) {
    const file = path.resolve(input.file);
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new InputError(`cannot read config file ${file}: ${err.code ?? err.message}`, 'check --config');
    });
    try {
      fromFile = JSON.parse(text) as Plain;
    } catch (err) {
      throw new InputError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    delete fromFile.$comment;
    noteSources(fromFile, (f) => `${file}: "${f}"`, sources);
  }
  const fromEnv = readEnv(input.env ?? process.env, sources);
  const flags = input.flags ?? {};
  noteSources(flags, (f) => `flag ${input.flagNames?.[f] ?? f}`, sources);
  const parsed = Config.safeParse(merge(merge(fromFile, fromEnv), flags));
  if (!parsed.success) {
    throw new InputError(`invalid settings:\n${formatConfigIssues(parsed.error, sources)}`, 'see `durabatch run --help`');
  }
  return { config: parsed.data, sources };
}

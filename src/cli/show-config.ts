// What `durabatch config` does: the effective settings after precedence, where each came from,
// secrets masked. Imported when the command runs.
import path from 'node:path';
import { stepsFromConfig } from '../client/steps';
import { SETTING_GROUPS, type LoadedConfig, type SettingOrigin } from '../config/load';
import { Config } from '../config/schema';
import { InputError } from '../errors';
import { maskSecrets } from '../logging/secrets';
import { CONFIG_PRECEDENCE, loadBatchConfig, type BatchFlags } from './batch-options';

export type SettingSource = 'default' | SettingOrigin['kind'];

export interface EffectiveSetting {
  field: string;
  /** The value after precedence, secrets masked; absent when the setting is not set. */
  value?: unknown;
  source: SettingSource;
  /** The file, environment variable or flag that set it. */
  from?: string;
  /** Weaker layers whose entries were merged into this map (`file config/production.json`). */
  mergedWith?: string[];
}

const RANK = { file: 1, env: 2, flag: 3 } as const;

/**
 * The layers that set `field`, strongest first, plus weaker layers whose entries survive in its
 * value: maps merge across layers (`--header` adds to the file's headers), while JSON text from a
 * variable or flag replaces the whole value.
 */
function originsOf(loaded: LoadedConfig, field: string, value: unknown): SettingOrigin[] {
  const survives = (f: string) => {
    if (f === field) return true;
    const key = f.slice(field.length + 1).split('.')[0] ?? '';
    return f.startsWith(`${field}.`) && isMap(value) && key in value;
  };
  const found = Object.entries(loaded.origins)
    .filter(([f]) => survives(f))
    .map(([, o]) => o)
    .filter((o): o is SettingOrigin => o !== undefined);
  const unique = [...new Map(found.map((o) => [`${o.kind}:${o.name}`, o])).values()];
  return unique.sort((a, b) => RANK[b.kind] - RANK[a.kind]);
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const originName = (o: SettingOrigin): string => {
  if (o.kind !== 'file') return o.name;
  const rel = path.relative(process.cwd(), o.name);
  return rel && !rel.startsWith('..') ? rel : o.name;
};

/** One row per setting, in schema order; settings groups (http, command, ...) one row per field. */
export function effectiveSettings(loaded: LoadedConfig): EffectiveSetting[] {
  const rows: EffectiveSetting[] = [];
  const add = (field: string, value: unknown) => {
    const [origin, ...others] = originsOf(loaded, field, value);
    const key = field.slice(field.lastIndexOf('.') + 1);
    rows.push({
      field,
      ...(value === undefined ? {} : { value: maskSecrets(value, key) }),
      source: origin?.kind ?? 'default',
      ...(origin ? { from: originName(origin) } : {}),
      ...(others.length > 0 ? { mergedWith: others.map((o) => `${o.kind} ${originName(o)}`) } : {}),
    });
  };
  const config = loaded.config as Record<string, unknown>;
  for (const field of Object.keys(Config.shape)) {
    const value = config[field];
    const group = SETTING_GROUPS[field];
    if (group && value && typeof value === 'object') {
      for (const sub of Object.keys(group)) add(`${field}.${sub}`, (value as Record<string, unknown>)[sub]);
    } else {
      add(field, value);
    }
  }
  return rows;
}

function showValue(value: unknown): string {
  if (value === undefined) return '(not set)';
  if (typeof value !== 'string') return JSON.stringify(value);
  // Quote what would be invisible or ambiguous printed bare: empty, padded, tabs and newlines.
  return value === '' || value.trim() !== value || [...value].some((c) => c.charCodeAt(0) < 32)
    ? JSON.stringify(value)
    : value;
}

function table(rows: EffectiveSetting[]): string {
  const cells = rows.map((r) => {
    const source = r.from ? `${r.source} ${r.from}` : r.source;
    return [r.field, showValue(r.value), r.mergedWith ? `${source} + ${r.mergedWith.join(' + ')}` : source];
  });
  const widths = [0, 1].map((i) => Math.min(48, Math.max(...cells.map((c) => c[i]?.length ?? 0))));
  return cells
    .map(([field = '', value = '', source = '']) => {
      // Long values (a schema, a pipeline) push the source to the next column stop, not off-screen.
      const v = value.length > (widths[1] ?? 0) ? `${value}  ` : value.padEnd(widths[1] ?? 0);
      return `  ${field.padEnd(widths[0] ?? 0)}  ${v}  ${source}`.trimEnd();
    })
    .join('\n');
}

export async function showConfig(flags: BatchFlags & { json?: boolean }): Promise<void> {
  // The same loading as `run`'s, so this shows exactly what a batch would use.
  const loaded = await loadBatchConfig(flags);
  const rows = effectiveSettings(loaded);
  // A batch would also need a complete processor setup (a URL for http...): say so, but still
  // show the settings, since finding out what is missing is why people run this command.
  let warning: string | undefined;
  try {
    stepsFromConfig(loaded.config);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    warning = err.message;
  }
  if (flags.json) {
    const settings = Object.fromEntries(rows.map(({ field, ...rest }) => [field, rest]));
    const out = {
      file: loaded.file ?? null,
      precedence: CONFIG_PRECEDENCE,
      settings,
      ...(warning ? { warnings: [warning] } : {}),
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    process.stdout.write(
      `Effective settings (${CONFIG_PRECEDENCE}); secrets shown as ****\n` +
        `config file: ${loaded.file ?? 'none'}\n\n${table(rows)}\n`,
    );
  }
  if (warning)
    process.stderr.write(
      `warning: a batch with these settings would not start:\n  ${warning.replace(/\n/g, '\n  ')}\n`,
    );
}

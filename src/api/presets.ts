// Processor presets: the only processors an API client may run. Each is checked when the service
// starts (so a broken preset is found by its operator, not by a client), and filled in per request:
// parameters are typed and bounded, substituted into the preset's strings (percent-encoded inside
// URLs), and every resulting URL must stay inside the preset's origins.
import path from 'node:path';
import type { ApiSettings, PresetParam } from '../config/api';
import { Config, formatConfigIssues } from '../config/schema';
import { stepsFromConfig } from '../client/steps';
import { InputError } from '../errors';
import { originOf } from '../worker/allow-settings';
import { ApiProblem } from './problem';

const PARAM_REF = /\$\{param:([^}]*)\}/g;
export const DEFAULT_PATTERN = '^[A-Za-z0-9._-]{1,100}$';
/** Preset fields that describe it, not the batch. */
const META = ['description', 'params', 'allowOrigins'] as const;
/** Settings the service decides for every batch: a preset naming one is a configuration mistake. */
const SERVER_SET = ['api', 'allow', 'home', 'taskQueue', 'outputDir', 'batchId', 'metadata'] as const;

/** A preset as checked at start-up: its batch settings and the origins its URLs may reach. */
export interface CheckedPreset {
  name: string;
  description?: string;
  params: Record<string, PresetParam>;
  /** The preset's settings (processor and batch defaults) with `${param:}` references unfilled. */
  settings: Record<string, unknown>;
  /** The settings parsed with sample parameter values (for the worker's allow-list). */
  sample: Config;
  origins: string[];
  /** Parameters inside a command line given as one string, where a value must stay one word. */
  inCommandLine: Set<string>;
}

/** Every string of `value` with its path (`http.url`, `steps.0.command.argv.1`). */
function* strings(value: unknown, at: string[] = []): Generator<[string[], string]> {
  if (typeof value === 'string') yield [at, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, [...at, String(i)]);
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) yield* strings(v, [...at, k]);
}

/** `value` with every string mapped by `fn(path, text)`. */
function mapStrings(value: unknown, fn: (at: string[], s: string) => string, at: string[] = []): unknown {
  if (typeof value === 'string') return fn(at, value);
  if (Array.isArray(value)) return value.map((v, i) => mapStrings(v, fn, [...at, String(i)]));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn, [...at, k])]));
  return value;
}

/** An http URL template: `http.url`, or a step's. */
const isUrlField = (at: string[]) =>
  at.length >= 2 && at[at.length - 1] === 'url' && at[at.length - 2] === 'http';
/** A command line given as one string (split into words after it is filled in). */
const isCommandLine = (at: string[]) => at[at.length - 1] === 'argv' && at[at.length - 2] === 'command';
/** A program (argv[0], or a one-string command line) or a module path: never filled in by a client. */
const isCodeField = (at: string[], s: string, ref: string) => {
  const last = at.length - 1;
  if (at[last] === 'path' && at[last - 1] === 'module') return true;
  // A command line as one string: its first word is the program.
  if (at[last] === 'argv' && at[last - 1] === 'command')
    return (s.trim().split(/\s+/)[0] ?? '').includes(ref);
  return at[last] === '0' && at[last - 1] === 'argv' && at[last - 2] === 'command';
};

const fill = (settings: unknown, values: Record<string, string>): unknown =>
  mapStrings(settings, (at, s) =>
    s.replace(PARAM_REF, (_m, name: string) => {
      const v = values[name] ?? '';
      return isUrlField(at) ? encodeURIComponent(v) : v;
    }),
  );

/** A value of the param's type for start-up checks: its default, its first allowed value, or a plain word. */
function sampleValue(p: PresetParam): string {
  const v = p.default ?? p.enum?.[0] ?? (p.type === 'number' ? 1 : p.type === 'boolean' ? true : 'sample');
  return String(v);
}

/** The origin of a URL template (placeholders after the host stay), or undefined. */
const templateOrigin = (url: string) => originOf(url.replace(/\{[^}]*\}/g, 'x'));

/**
 * Checks every preset at start-up: settings valid as a config (with sample parameter values),
 * every `${param:}` declared, no parameter in a program or module path, and fixed origins for
 * URLs (a parameter in a URL's host needs `allowOrigins`). Throws an InputError naming the preset
 * and field.
 */
export function checkPresets(settings: Pick<ApiSettings, 'presets'>): Map<string, CheckedPreset> {
  const out = new Map<string, CheckedPreset>();
  for (const [name, preset] of Object.entries(settings.presets)) {
    const where = (field: string) => `api.presets.${name}${field ? `.${field}` : ''}`;
    const raw = preset as Record<string, unknown>;
    const body = Object.fromEntries(
      Object.entries(raw).filter(([k]) => !(META as readonly string[]).includes(k)),
    );
    for (const k of SERVER_SET) {
      if (k in body)
        throw new InputError(
          `${where(k)}: a preset cannot set ${k}: the service sets it for every batch`,
          `remove "${k}" from the preset`,
        );
    }
    for (const [pname, p] of Object.entries(preset.params)) {
      try {
        new RegExp(p.pattern ?? DEFAULT_PATTERN, 'u');
      } catch (err) {
        throw new InputError(`${where(`params.${pname}.pattern`)}: ${(err as Error).message}`);
      }
    }
    const inCommandLine = new Set<string>();
    for (const [at, s] of strings(body)) {
      const field = at.join('.');
      for (const m of s.matchAll(PARAM_REF)) {
        if (isCommandLine(at)) inCommandLine.add(m[1]!);
        if (!(m[1]! in preset.params))
          throw new InputError(
            `${where(field)}: \${param:${m[1]}} is not declared`,
            `declare it under ${where('params')}, or remove the reference`,
          );
        if (isCodeField(at, s, m[0]))
          throw new InputError(
            `${where(field)}: a program or module path cannot contain a parameter: a client would choose the code that runs`,
            'use a fixed program or module, and pass values as its arguments',
          );
      }
      if (isUrlField(at) && templateOrigin(s.replace(PARAM_REF, 'p')) === undefined)
        throw new InputError(
          `${where(field)}: "${s}" has no fixed http(s) origin`,
          'give the URL as http(s)://host[:port]/path, with placeholders only after the host',
        );
      if (isUrlField(at) && /\$\{param:/.test(s.split('/').slice(0, 3).join('/')) && !preset.allowOrigins)
        throw new InputError(
          `${where(field)}: a parameter in the URL's origin needs explicit allowOrigins`,
          `list the origins the parameter may choose in ${where('allowOrigins')}`,
        );
    }
    const samples = Object.fromEntries(Object.entries(preset.params).map(([k, p]) => [k, sampleValue(p)]));
    const parsed = Config.safeParse(fill(body, samples));
    if (!parsed.success)
      throw new InputError(
        `preset "${name}": ${formatConfigIssues(parsed.error, {}, body)
          .split('\n')
          .map((l) => l.replace(/^setting "/, `setting "${where('')}.`))
          .join('; ')}`,
        `fix ${where('')} in the service's configuration`,
      );
    try {
      stepsFromConfig(parsed.data);
    } catch (err) {
      throw new InputError(
        `${where('')}: ${(err as InputError).message.split('\n')[0]}`,
        (err as InputError).hint,
      );
    }
    let origins: string[];
    if (preset.allowOrigins) {
      origins = preset.allowOrigins.map((o, i) => {
        const origin = originOf(o);
        if (!origin || new URL(o).pathname !== '/')
          throw new InputError(
            `${where(`allowOrigins.${i}`)}: "${o}" is not an origin`,
            'write https://host[:port]',
          );
        return origin;
      });
    } else {
      origins = [...strings(body)]
        .filter(([at]) => isUrlField(at))
        .map(([, s]) => templateOrigin(s.replace(PARAM_REF, 'p'))!);
    }
    out.set(name, {
      name,
      description: preset.description,
      params: preset.params,
      settings: body,
      sample: parsed.data,
      origins: [...new Set(origins)],
      inCommandLine,
    });
  }
  return out;
}

const checked = new WeakMap<object, Map<string, CheckedPreset>>();

/** The service's presets, checked once per settings object (route modules and the worker share them). */
export function presetsOf(settings: Pick<ApiSettings, 'presets'>): Map<string, CheckedPreset> {
  let presets = checked.get(settings);
  if (!presets) checked.set(settings, (presets = checkPresets(settings)));
  return presets;
}

/** A client's value for one parameter, checked: 400 naming `params.NAME` otherwise. */
function paramValue(name: string, p: PresetParam, given: unknown, oneWord: boolean): string {
  const field = `params.${name}`;
  const bad = (why: string, fix: string) => new ApiProblem(400, 'Bad Request', `${field}: ${why}`, fix);
  if (given === undefined) {
    if (p.default === undefined)
      throw bad('missing: this preset needs it', `send "params": { "${name}": ... }`);
    return String(p.default);
  }
  if (p.type === 'number' && (typeof given !== 'number' || !Number.isFinite(given)))
    throw bad('must be a number', 'send a JSON number');
  if (p.type === 'boolean' && typeof given !== 'boolean')
    throw bad('must be true or false', 'send a JSON boolean');
  if (p.type === 'string' && typeof given !== 'string') throw bad('must be a string', 'send a JSON string');
  if (p.enum && !p.enum.includes(given as never))
    throw bad(
      `${JSON.stringify(given)} is not allowed`,
      `use one of ${p.enum.map((v) => JSON.stringify(v)).join(', ')}`,
    );
  const text = typeof given === 'string' ? given : JSON.stringify(given);
  // Whatever the pattern allows: never a path step, an option, or a template of its own.
  // Nor a path from the root or a home folder: like "..", it would name files outside the batch's.
  if (
    /(^|[/\\])\.\.?([/\\]|$)/.test(text) ||
    /^[-/~\\]/.test(text) ||
    // eslint-disable-next-line no-control-regex
    /[{}$\u0000-\u001f\u007f]/.test(text)
  )
    throw bad(
      `${JSON.stringify(text.slice(0, 100))} is not allowed: no "." or ".." path segment, leading "-", "/" or "~", braces, "$" or control characters`,
      'send a plain value',
    );
  // A command line given as one string is split into words after it is filled in: a value with a
  // space or a quote would add words (options, files) of the client's choosing.
  if (oneWord && /[\s'"\\]/.test(text))
    throw bad(
      `${JSON.stringify(text.slice(0, 100))} is not allowed: this parameter is a word of a command line, so no spaces, quotes or backslashes`,
      'send one word',
    );
  if (!p.enum && !new RegExp(p.pattern ?? DEFAULT_PATTERN, 'u').test(text))
    throw bad(
      `${JSON.stringify(text.slice(0, 100))} does not match ${p.pattern ?? DEFAULT_PATTERN}`,
      'send a value that matches',
    );
  return text;
}

/**
 * The preset's settings for one request, parameters filled in and checked; every http URL must
 * reach one of the preset's origins. 400 for an unknown preset or parameter, a bad value, or a URL
 * outside.
 */
export function resolvePreset(
  presets: Map<string, CheckedPreset>,
  name: string,
  params: Record<string, unknown> = {},
): Record<string, unknown> {
  const preset = presets.get(name);
  if (!preset) {
    const known = [...presets.keys()];
    throw new ApiProblem(
      400,
      'Bad Request',
      `preset: no preset named "${name.slice(0, 100)}"`,
      known.length
        ? `use one of: ${known.join(', ')} (GET /v1/presets)`
        : 'the service defines no presets (config api.presets)',
    );
  }
  for (const k of Object.keys(params)) {
    if (!(k in preset.params))
      throw new ApiProblem(
        400,
        'Bad Request',
        `params.${k.slice(0, 100)}: preset "${name}" has no such parameter`,
        Object.keys(preset.params).length
          ? `its parameters: ${Object.keys(preset.params).join(', ')}`
          : 'it takes no parameters',
      );
  }
  const values = Object.fromEntries(
    Object.entries(preset.params).map(([k, p]) => [
      k,
      paramValue(k, p, params[k], preset.inCommandLine.has(k)),
    ]),
  );
  const filled = fill(preset.settings, values) as Record<string, unknown>;
  for (const [at, url] of strings(filled)) {
    if (!isUrlField(at)) continue;
    const origin = templateOrigin(url);
    if (!origin || !preset.origins.includes(origin))
      throw new ApiProblem(
        400,
        'Bad Request',
        `params: preset "${name}" would call ${origin ?? 'an invalid URL'}, outside its allowed origins (${preset.origins.join(', ')})`,
        'choose parameter values that keep the URL on an allowed origin',
      );
  }
  return filled;
}

/** What a worker in the service must allow to run the presets: their programs, modules and origins. */
export function presetAllowList(presets: Map<string, CheckedPreset>): {
  commands: string[];
  modules: string[];
  origins: string[];
} {
  const commands = new Set<string>();
  const modules = new Set<string>();
  const origins = new Set<string>();
  for (const p of presets.values()) {
    for (const o of p.origins) origins.add(o);
    for (const step of stepsFromConfig(p.sample)) {
      if (step.processor.type === 'command' && step.processor.argv[0]) commands.add(step.processor.argv[0]);
      if (step.processor.type === 'module') modules.add(path.resolve(step.processor.module));
    }
  }
  return { commands: [...commands], modules: [...modules], origins: [...origins] };
}

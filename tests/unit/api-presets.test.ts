// Presets are checked when the service starts (errors name the preset and field), filled in per
// request (typed values, percent-encoded inside URLs, never a path step or option), and give the
// service's worker exactly their programs, modules and origins.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPresets, resolvePreset } from '../../src/api/presets';
import { ApiProblem } from '../../src/api/problem';
import { serviceAllowList } from '../../src/api/service-worker';
import { ApiSettings } from '../../src/config/api';
import { Config } from '../../src/config/schema';
import { InputError } from '../../src/errors';

const check = (presets: Record<string, unknown>) => checkPresets(ApiSettings.parse({ presets }));
const refusal = (presets: Record<string, unknown>): string => {
  try {
    check(presets);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('presets at start-up', () => {
  it('refuses a preset naming the preset and field', () => {
    expect(
      refusal({ p: { processor: 'http', http: { url: 'https://api.example.com/${param:x}' } } }),
    ).toContain('api.presets.p.http.url: ${param:x} is not declared');
    expect(
      refusal({
        c: { processor: 'command', params: { tool: {} }, command: { argv: ['${param:tool}', '{path}'] } },
      }),
    ).toContain('api.presets.c.command.argv.0: a program or module path cannot contain a parameter');
    expect(
      refusal({
        c: { processor: 'command', params: { tool: {} }, command: { argv: '${param:tool} {path}' } },
      }),
    ).toContain('api.presets.c.command.argv: a program or module path cannot contain a parameter');
    expect(
      refusal({ m: { processor: 'module', params: { m: {} }, module: { path: './mods/${param:m}.ts' } } }),
    ).toContain('api.presets.m.module.path: a program or module path cannot contain a parameter');
    expect(
      refusal({ h: { processor: 'http', params: { host: {} }, http: { url: 'https://${param:host}/x' } } }),
    ).toContain("api.presets.h.http.url: a parameter in the URL's origin needs explicit allowOrigins");
    expect(
      refusal({ o: { processor: 'http', http: { url: 'https://a.example', method: 'FETCH' } } }),
    ).toContain('preset "o": setting "api.presets.o.http.method"');
    expect(
      refusal({ t: { processor: 'http', taskQueue: 'other', http: { url: 'https://a.example' } } }),
    ).toContain('api.presets.t.taskQueue: a preset cannot set taskQueue');
    expect(refusal({ n: { processor: 'http' } })).toContain(
      'api.presets.n: processor http: the http processor needs a URL',
    );
  });

  it('accepts a preset with a command argument parameter and knows its origins', () => {
    const presets = check({
      convert: {
        processor: 'command',
        params: { size: {} },
        command: { argv: ['convert', '-resize', '${param:size}', '{path}'] },
      },
      api: {
        processor: 'http',
        params: { id: {} },
        http: { url: 'https://api.example.com:8443/v1/${param:id}/{key}' },
      },
    });
    expect(presets.get('api')!.origins).toEqual(['https://api.example.com:8443']);
    expect(
      serviceAllowList(presets, {}, { home: '/srv/home', outputRoot: '/srv/out', uploadsDir: '/srv/up' }),
    ).toEqual({
      commands: ['convert'],
      modules: [],
      origins: ['https://api.example.com:8443'],
      paths: ['/srv/home', '/srv/out', '/srv/up'],
    });
  });
});

describe('presets per request', () => {
  const presets = check({
    api: {
      processor: 'http',
      params: {
        id: { pattern: '^[a-z /]{1,20}$' },
        mode: { enum: ['fast', 'slow'], default: 'fast' },
        n: { type: 'number', default: 2 },
      },
      http: { url: 'https://api.example.com/v1/${param:id}/{key}', headers: { 'x-mode': '${param:mode}' } },
      concurrency: '${param:n}',
    },
    mod: { processor: 'module', module: { path: 'mods/p.ts' } },
  });
  const problem = (fn: () => unknown): ApiProblem => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ApiProblem);
      return err as ApiProblem;
    }
    throw new Error('accepted');
  };

  it('fills parameters, percent-encoding them inside URLs only', () => {
    const filled = resolvePreset(presets, 'api', { id: 'a b/c', n: 4 });
    expect(filled).toMatchObject({
      http: { url: 'https://api.example.com/v1/a%20b%2Fc/{key}', headers: { 'x-mode': 'fast' } },
      concurrency: '4',
    });
  });

  it('refuses bad values, naming the parameter', () => {
    expect(problem(() => resolvePreset(presets, 'api', { id: 'ok', mode: 'turbo' })).message).toBe(
      'params.mode: "turbo" is not allowed',
    );
    expect(problem(() => resolvePreset(presets, 'api', { id: 'ok', n: '3' })).message).toBe(
      'params.n: must be a number',
    );
    expect(problem(() => resolvePreset(presets, 'api', { id: 'x{key}' })).message).toContain(
      'params.id: "x{key}" is not allowed',
    );
    expect(problem(() => resolvePreset(presets, 'api', { id: 'a/../b' })).message).toContain(
      'params.id: "a/../b" is not allowed: no "." or ".." path segment',
    );
    expect(problem(() => resolvePreset(presets, 'nope')).fix).toBe('use one of: api, mod (GET /v1/presets)');
  });

  it('keeps a value one word of a command line, and never a path from the root or home', () => {
    const loose = check({
      line: {
        processor: 'command',
        params: { size: { pattern: '^[^\\u0000]{1,100}$' } },
        command: { argv: 'convert {path} -resize ${param:size} {documents}/out.png' },
      },
      list: {
        processor: 'command',
        params: { file: { pattern: '^[^\\u0000]{1,100}$' } },
        command: { argv: ['convert', '{path}', '${param:file}'] },
      },
    });
    const argvOf = (filled: Record<string, unknown>) =>
      (Config.parse(filled).command as { argv: string[] }).argv;
    // One word stays one word; a list argument may hold a space (it is never split).
    expect(argvOf(resolvePreset(loose, 'line', { size: '50%' }))).toEqual([
      'convert',
      '{path}',
      '-resize',
      '50%',
      '{documents}/out.png',
    ]);
    expect(argvOf(resolvePreset(loose, 'list', { file: 'a b.png' }))).toEqual([
      'convert',
      '{path}',
      'a b.png',
    ]);
    for (const size of ['50% -write /tmp/x', "50%' -write '/tmp/x", '50%\\ x', '50%\tx'])
      expect(problem(() => resolvePreset(loose, 'line', { size })).message, size).toMatch(
        /^params\.size: .* is not allowed: (this parameter is a word of a command line|no ")/,
      );
    for (const file of ['/etc/passwd', '~root/.ssh/id_rsa', '\\\\host\\share'])
      expect(problem(() => resolvePreset(loose, 'list', { file })).message, file).toContain(
        'is not allowed: no "." or ".." path segment, leading "-", "/" or "~"',
      );
  });

  it('resolves module paths once, at start-up', () => {
    expect(serviceAllowList(presets, {}, { home: '/h', outputRoot: '/o', uploadsDir: '/u' }).modules).toEqual(
      [path.resolve('mods/p.ts')],
    );
  });
});

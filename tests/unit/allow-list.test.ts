// The worker allow-list (activities/processors/allow-list.ts): what a forged workflow input can and
// cannot make a worker run. Real files, real PATH lookups; the processors themselves never run here.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertAllowed } from '../../activities/processors/allow-list';
import { AllowSettings } from '../../src/config/allow';
import { loadConfig } from '../../src/config/load';
import {
  ALLOW_ANY,
  ALLOW_NONE,
  allowListForBatch,
  allowListOf,
  type ProcessorAllowList,
} from '../../src/worker/allow-settings';
import type { ProcessorSpec } from '../../workflows/types';
import { rejection } from '../helpers/rejection';

const run = promisify(execFile);
let dir: string;
let bin: string;
let evil: string;
const env = () => ({ PATH: `${bin}:/usr/bin:/bin` });
const item = { index: 0, key: 'k', line: 2, data: { host: 'evil.example', prog: 'tool' } };

const command = (argv: string[], extra: Partial<ProcessorSpec> = {}): ProcessorSpec =>
  ({ type: 'command', argv, timeoutMs: 1_000, ...extra }) as ProcessorSpec;
const http = (url: string): ProcessorSpec => ({
  type: 'http',
  url,
  method: 'GET',
  headers: {},
  timeoutMs: 1_000,
});
const mod = (file: string): ProcessorSpec => ({ type: 'module', module: file, timeoutMs: 1_000 });

async function refusal(spec: ProcessorSpec, allow: ProcessorAllowList): Promise<ApplicationFailure> {
  const failure = await rejection(
    assertAllowed(spec, allow, { item, steps: {}, env: env() }),
    ApplicationFailure,
  );
  expect(failure.type).toBe('ProcessorNotAllowed');
  expect(failure.nonRetryable).toBe(true);
  return failure;
}
const allowed = (spec: ProcessorSpec, allow: ProcessorAllowList) =>
  assertAllowed(spec, allow, { item, steps: {}, env: env() });

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'allow-list-'));
  bin = path.join(dir, 'bin');
  evil = path.join(dir, 'evil');
  for (const d of [bin, evil, path.join(dir, 'mods', 'sub')]) await mkdir(d, { recursive: true });
  for (const file of [path.join(bin, 'tool'), path.join(evil, 'tool'), path.join(evil, 'other')]) {
    await writeFile(file, '#!/bin/sh\nexit 0\n');
    await chmod(file, 0o755);
  }
  await writeFile(path.join(dir, 'mods', 'ok.mjs'), 'export default async () => 1;\n');
  await writeFile(path.join(dir, 'mods', 'sub', 'deep.mjs'), 'export default async () => 1;\n');
  await writeFile(path.join(dir, 'outside.mjs'), 'export default async () => 1;\n');
  await symlink(path.join(dir, 'outside.mjs'), path.join(dir, 'mods', 'link.mjs'));
  await symlink(path.join(bin, 'tool'), path.join(bin, 'multi'));
});

describe('commands', () => {
  const allow = { ...ALLOW_NONE, commands: ['tool'] };

  it('allows a listed program found on the worker PATH, by name or absolute path', async () => {
    await allowed(command(['tool', '{x}']), allow);
    await allowed(command([path.join(bin, 'tool')]), allow);
    await allowed(command(['tool']), { ...ALLOW_NONE, commands: [path.join(bin, 'tool')] });
  });

  it('refuses an unlisted program, naming it and the setting to change', async () => {
    const f = await refusal(command(['touch', '/tmp/x']), allow);
    expect(f.message).toContain('program "touch"');
    expect(f.message).toContain('DURABATCH_ALLOW_COMMANDS');
    expect(f.message).toContain('--allow-command');
  });

  it('refuses a same-named program elsewhere: by path, relative, or through a PATH the batch sets', async () => {
    await refusal(command([path.join(evil, 'tool')]), allow);
    await refusal(command(['./tool'], { cwd: evil }), allow);
    // Even where the worker lets a batch set PATH, the program it then finds is checked.
    const viaPath = await refusal(command(['tool'], { env: { PATH: evil } }), { ...allow, env: ['PATH'] });
    expect(viaPath.message).toContain(path.join(evil, 'tool'));
  });

  it('refuses another name of the same file (a multi-call binary is what its name says)', async () => {
    const f = await refusal(command(['sh']), { ...ALLOW_NONE, commands: ['tool'] });
    expect(f.message).toContain('program "sh"');
    // `multi` and `tool` are one file: allowed as `tool`, not as `multi`.
    await refusal(command([path.join(bin, 'multi')]), { ...ALLOW_NONE, commands: ['tool'] });
    await allowed(command(['multi']), { ...ALLOW_NONE, commands: ['multi'] });
  });

  it('refuses a program chosen by an item value, and loader variables set by the batch', async () => {
    expect((await refusal(command(['{prog}']), allow)).message).toContain('chosen by an item value');
    for (const name of ['LD_PRELOAD', 'NODE_OPTIONS', 'DYLD_INSERT_LIBRARIES']) {
      const f = await refusal(command(['tool'], { env: { [name]: '/tmp/x.so' } }), allow);
      expect(f.message).toContain(name);
    }
  });

  it('lets a batch set only the variables the worker allows (allow.env), whatever they do', async () => {
    // Variables that make a program (or what it runs) load or run other code: none is listed.
    const hostile = [
      'BASH_FUNC_ls%%',
      'GIT_SSH_COMMAND',
      'GIT_CONFIG_PARAMETERS',
      'PYTHONPATH',
      'PERL5LIB',
      'GCONV_PATH',
      'OPENSSL_CONF',
      'JAVA_TOOL_OPTIONS',
      'SHELLOPTS',
      'PS4',
      'PATH',
      'HOME',
      'API_TOKEN',
    ];
    for (const name of hostile) {
      const f = await refusal(command(['tool'], { env: { [name]: 'x' } }), allow);
      expect(f.message).toContain(`the batch sets ${name} for "tool"`);
      expect(f.message).toContain('DURABATCH_ALLOW_ENV');
    }
    // Always allowed: language and time zone.
    await allowed(command(['tool'], { env: { LANG: 'C.UTF-8', LC_ALL: 'C', TZ: 'UTC' } }), allow);
    // Listed by name or prefix.
    const listed = { ...allow, env: ['API_TOKEN', 'MYAPP_*'] };
    await allowed(command(['tool'], { env: { API_TOKEN: '${env:T}', MYAPP_MODE: 'fast' } }), listed);
    await refusal(command(['tool'], { env: { MYAPPX: 'x' } }), listed);
    await refusal(command(['tool'], { env: { PYTHONPATH: '/tmp' } }), listed);
    // `*` lets a batch set anything (the operator's choice).
    await allowed(command(['tool'], { env: { PYTHONPATH: '/tmp' } }), { ...allow, env: ['*'] });
  });

  it('allows nothing by default and anything with *', async () => {
    await refusal(command(['tool']), ALLOW_NONE);
    await allowed(command([path.join(evil, 'other')]), ALLOW_ANY);
  });
});

describe('modules', () => {
  it('allows a listed file or any file under a listed directory, symlinks resolved', async () => {
    const allow = { ...ALLOW_NONE, modules: [path.join(dir, 'mods')] };
    await allowed(mod(path.join(dir, 'mods', 'ok.mjs')), allow);
    await allowed(mod(path.join(dir, 'mods', 'sub', 'deep.mjs')), allow);
    const out = await refusal(mod(path.join(dir, 'mods', 'link.mjs')), allow);
    expect(out.message).toContain(path.join(dir, 'outside.mjs'));
    await refusal(mod(path.join(dir, 'mods', '..', 'outside.mjs')), allow);
    await refusal(mod(`${path.join(dir, 'mods')}-other/x.mjs`), allow);
    const f = await refusal(mod(path.join(dir, 'outside.mjs')), ALLOW_NONE);
    expect(f.message).toContain('DURABATCH_ALLOW_MODULES');
  });
});

describe('origins', () => {
  const allow = { ...ALLOW_NONE, origins: ['https://api.example.com'] };
  it('checks the origin of the URL expanded from the item', async () => {
    await allowed(http('https://api.example.com/p/{id}'), allow);
    await allowed(http('https://API.example.com:443/p'), allow);
    const f = await refusal(http('https://{host}/p'), allow);
    expect(f.message).toContain('origin https://evil.example');
    expect(f.message).toContain('DURABATCH_ALLOW_ORIGINS');
    await refusal(http('http://api.example.com/p'), allow);
    await refusal(http('https://api.example.com:8443/p'), allow);
    await refusal(http('https://api.example.com.evil.example/p'), allow);
  });
});

describe('settings', () => {
  it('reads DURABATCH_ALLOW_* as comma lists or JSON, normalises origins and module paths', async () => {
    const { config } = await loadConfig({
      env: {
        DURABATCH_ALLOW_COMMANDS: 'convert, /usr/bin/gzip',
        DURABATCH_ALLOW_MODULES: '["./mods"]',
        DURABATCH_ALLOW_ORIGINS: 'https://API.example.com:443,http://localhost:8080',
        DURABATCH_ALLOW_ENV: 'MYAPP_*, API_TOKEN',
      },
    });
    expect(allowListOf(config.allow)).toEqual({
      commands: ['convert', '/usr/bin/gzip'],
      modules: [path.resolve('mods')],
      origins: ['https://api.example.com', 'http://localhost:8080'],
      paths: [],
      env: ['MYAPP_*', 'API_TOKEN'],
    });
    await expect(loadConfig({ env: { DURABATCH_ALLOW_ENV: 'A-B' } })).rejects.toThrow(/DURABATCH_ALLOW_ENV/);
    expect(allowListOf((await loadConfig({ env: {} })).config.allow)).toEqual(ALLOW_NONE);
  });

  it('refuses an origin with a path or credentials, naming the variable', async () => {
    for (const bad of ['https://api.example.com/v1', 'https://u:p@api.example.com', 'ftp://x']) {
      await expect(loadConfig({ env: { DURABATCH_ALLOW_ORIGINS: bad } })).rejects.toThrow(
        /DURABATCH_ALLOW_ORIGINS.*must be an origin/,
      );
    }
    expect(AllowSettings.safeParse({ commands: ['{prog}'] }).success).toBe(false);
  });

  it('durabatch worker refuses a bad list at start, naming the flag (exit 2)', async () => {
    const err = (await run(
      process.execPath,
      ['bin/durabatch.js', 'worker', '--allow-origin', 'https://api.example.com/v1'],
      {
        cwd: path.resolve(import.meta.dirname, '../..'),
        env: { PATH: process.env.PATH, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      },
    ).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: number; stderr?: string } | undefined;
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain(
      'flag --allow-origin (at allow.origins.0): https://api.example.com/v1: must be an origin',
    );
    expect(err?.stderr).toContain('durabatch worker --help');
  });

  it('a run worker allows its own batch processors exactly, plus its configured lists', async () => {
    const steps = [
      { name: 'a', processor: command(['tool', 'score.py', '{id}'], { cwd: dir }) },
      { name: 'b', processor: mod(path.join(dir, 'mods', 'ok.mjs')) },
      { name: 'c', processor: http('https://api.example.com/p/{id}') },
      { name: 'd', processor: command(['{prog}', '{id}']) },
    ];
    const runAllow = allowListForBatch({ ...ALLOW_NONE, commands: ['gzip'] }, steps);
    // Lists grow by nothing: the batch's program, module and origin are not allowed as such.
    expect(runAllow).toMatchObject({ commands: ['gzip'], modules: [], origins: [] });
    expect(runAllow.processors).toHaveLength(4);
    // Its own processors run, even after a JSON round trip that reorders keys.
    for (const { processor } of steps) {
      await allowed(JSON.parse(JSON.stringify(processor)) as ProcessorSpec, runAllow);
      const reordered = Object.fromEntries(Object.entries(processor).reverse()) as ProcessorSpec;
      await allowed(reordered, runAllow);
    }
  });

  it('a run worker refuses a forged processor that differs from its batch in any field', async () => {
    const own = command(['tool', 'score.py', '{id}'], { cwd: dir });
    const runAllow = allowListForBatch(undefined, [{ name: 'a', processor: own }]);
    const forgeries: ProcessorSpec[] = [
      command(['tool', '-c', 'import os; os.system("touch /tmp/x")'], { cwd: dir }),
      command(['tool', 'score.py', '{id}']),
      command(['tool', 'score.py', '{id}'], { cwd: evil }),
      command(['tool', 'score.py', '{id}'], { cwd: dir, env: { LANG: 'C' } }),
      command(['tool', 'score.py', '{id}'], { cwd: dir, allowOptionValues: true }),
      command(['tool', 'score.py', '{id}', '{more}'], { cwd: dir }),
    ];
    for (const forged of forgeries) {
      const f = await refusal(forged, runAllow);
      expect(f.message).toMatch(/^program "tool" .*is not allowed on this worker/);
      expect(f.message).toContain("runs its own batch's processors exactly as given");
    }
    const ownHttp = {
      ...(http('https://api.example.com/p/{id}') as Extract<ProcessorSpec, { type: 'http' }>),
      headers: { 'X-Api-Key': '${env:SCORE_KEY}' },
    };
    const httpAllow = allowListForBatch(undefined, [{ name: 'h', processor: ownHttp }]);
    await allowed(ownHttp, httpAllow);
    await refusal({ ...ownHttp, headers: { 'X-Api-Key': '${env:OTHER_SECRET}' } }, httpAllow);
    await refusal({ ...ownHttp, method: 'DELETE' }, httpAllow);
    await refusal({ ...ownHttp, url: 'https://api.example.com/admin/{id}' }, httpAllow);
    const ownMod = mod(path.join(dir, 'mods', 'ok.mjs'));
    const modAllow = allowListForBatch(undefined, [{ name: 'm', processor: ownMod }]);
    await refusal(mod(path.join(dir, 'mods', 'sub', 'deep.mjs')), modAllow);
  });
});

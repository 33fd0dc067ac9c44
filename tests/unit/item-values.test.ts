// The item-values rule: no item value becomes an option of a program, a path outside the directory
// its template names, or a URL path segment that climbs. Rule functions first, then the command
// processor running real programs (nothing is created where the hostile value pointed).
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../activities/processors/command';
import {
  climb,
  fillArgv,
  fillChecked,
  isInside,
  ItemValueError,
  type ItemValueRules,
} from '../../activities/processors/item-values';
import type { CommandProcessorSpec } from '../../workflows/types';
import { processorContext } from '../helpers/processor-context';
import { rejection } from '../helpers/rejection';

const rules: ItemValueRules = {
  fixed: new Set(['documents', 'outputDir', 'attempt']),
  directories: new Set(['documents', 'outputDir']),
};
const vars = { documents: '/out/documents/K1', outputDir: '/out', attempt: 1 };

describe('argv entries from item values', () => {
  it('refuses a whole-placeholder value starting with "-", naming the field, the value and the fix', () => {
    const err = (() => {
      try {
        fillArgv(['ssh', '{host}', 'uptime'], { ...vars, host: '-oProxyCommand=touch /tmp/x' }, rules);
      } catch (e) {
        return e as Error;
      }
      throw new Error('accepted');
    })();
    expect(err).toBeInstanceOf(ItemValueError);
    expect(err.message).toContain('argument 1');
    expect(err.message).toContain('field "host" = "-oProxyCommand=touch /tmp/x"');
    expect(err.message).toContain('ssh would read it as an option');
    expect(err.message).toContain('"--"');
    expect(err.message).toContain('allowOptionValues: ["host"]');
  });

  it('refuses a value that makes the first character of a composed entry a "-" ({a}{b}, {a}x)', () => {
    expect(() => fillArgv(['git', '{a}{b}'], { ...vars, a: '', b: '--upload-pack=sh' }, rules)).toThrow(
      /field "b"/,
    );
    expect(() => fillArgv(['tar', '{a}.tar'], { ...vars, a: '--to-command=sh' }, rules)).toThrow(/field "a"/);
    expect(() => fillArgv(['curl', '{n}'], { ...vars, n: -5 }, rules)).toThrow(/field "n"/);
  });

  it('keeps values the template itself makes options or operands of', () => {
    // The template writes the "-": the value is the option's value.
    expect(fillArgv(['convert', '-{flag}', '--out={f}'], { ...vars, flag: '-x', f: '-y' }, rules)).toEqual([
      'convert',
      '--x',
      '--out=-y',
    ]);
    // Text first: the value cannot lead.
    expect(fillArgv(['echo', 'v{a}'], { ...vars, a: '-n' }, rules)).toEqual(['echo', 'v-n']);
    // After a literal "--" entry, everything is an operand.
    expect(fillArgv(['rm', '--', '{f}'], { ...vars, f: '-rf' }, rules)).toEqual(['rm', '--', '-rf']);
    // An item value "--" does not open the door for the entries after it.
    expect(() => fillArgv(['x', '{a}', '{b}'], { ...vars, a: '--', b: '-c' }, rules)).toThrow(ItemValueError);
  });

  it('allows option values only for the fields named by allowOptionValues (or all with true)', () => {
    const data = { ...vars, mode: '-v', host: '-oX' };
    const some = { ...rules, allowOptionValues: ['mode'] };
    expect(fillArgv(['p', '{mode}'], data, some)).toEqual(['p', '-v']);
    expect(() => fillArgv(['p', '{mode}', '{host}'], data, some)).toThrow(/field "host"/);
    expect(fillArgv(['p', '{mode}', '{host}'], data, { ...rules, allowOptionValues: true })).toEqual([
      'p',
      '-v',
      '-oX',
    ]);
  });

  it('never lets an item value choose the program', () => {
    expect(() => fillArgv(['{tool}', 'x'], { ...vars, tool: 'rm' }, rules)).toThrow(
      /the program \("\{tool\}"\) would come from field "tool" = "rm"/,
    );
    expect(() =>
      fillArgv(['/opt/{tool}'], { ...vars, tool: 'sh' }, { ...rules, allowOptionValues: true }),
    ).toThrow(ItemValueError);
    // The processor's own folders may hold the program (a script written by an earlier step).
    expect(fillArgv(['{documents}/run.sh'], vars, rules)).toEqual(['/out/documents/K1/run.sh']);
  });

  it('never puts an item value into the code an interpreter runs (sh -c, bash -lc, node -e, python -c)', () => {
    const data = { ...vars, file: '$(touch /tmp/x).png' };
    expect(() => fillArgv(['sh', '-c', 'convert {file} out.png'], data, rules)).toThrow(
      /argument 2 is the code sh runs \(after -c\), and field "file" = "\$\(touch \/tmp\/x\)\.png" would become part of it.*sh -c '… "\$1" …' sh \{file\}/,
    );
    expect(() => fillArgv(['/bin/bash', '-lc', 'x {file}'], data, rules)).toThrow(
      /code bash runs \(after -lc\)/,
    );
    expect(() => fillArgv(['node', '-e', 'f("{file}")'], data, rules)).toThrow(/code node runs/);
    expect(() => fillArgv(['python3', '-c', 'print("{file}")'], data, rules)).toThrow(/code python3 runs/);
    expect(() => fillArgv(['perl', '-e', 'print "{file}"'], data, rules)).toThrow(/code perl runs/);
    // Passed as an argument after the code: allowed, and the shell never parses it.
    expect(fillArgv(['sh', '-c', 'convert "$1" out.png', 'sh', '{file}'], data, rules)).toEqual([
      'sh',
      '-c',
      'convert "$1" out.png',
      'sh',
      '$(touch /tmp/x).png',
    ]);
    // A script file run by the interpreter is not code from the template, nor are its arguments.
    expect(fillArgv(['sh', 'script.sh', '{file}'], data, rules)).toHaveLength(3);
    expect(fillArgv(['sh', 'script.sh', '-c', 'x{file}'], data, rules)).toHaveLength(4);
    expect(() => fillArgv(['bash', '-o', 'pipefail', '-c', 'x {file}'], data, rules)).toThrow(
      /code bash runs/,
    );
    // ssh: everything after the destination is remote shell code; the destination is a value.
    expect(() => fillArgv(['ssh', '-p', '22', 'srv', 'convert', '{file}'], data, rules)).toThrow(
      /argument 5 is part of the command ssh sends to the remote shell, and field "file"/,
    );
    expect(() => fillArgv(['ssh', '--', 'srv', 'echo {file}'], data, rules)).toThrow(/remote shell/);
    expect(
      fillArgv(['ssh', '-oBatchMode=yes', '{host}', 'uptime'], { ...data, host: 'srv1' }, rules),
    ).toEqual(['ssh', '-oBatchMode=yes', 'srv1', 'uptime']);
    // The processor's own values may be in the code.
    expect(fillArgv(['sh', '-c', 'ls {documents}'], data, rules)[2]).toBe('ls /out/documents/K1');
  });

  it('holds values from an earlier step (steps.<name>…) to the same rule', () => {
    expect(() =>
      fillArgv(
        ['ssh', '{steps.lookup.body.host}'],
        { ...vars, 'steps.lookup.body.host': '-oProxyCommand=x' },
        rules,
      ),
    ).toThrow(/field "steps.lookup.body.host"/);
  });
});

describe('paths built from templates', () => {
  it('measures how far a relative path climbs', () => {
    expect(climb('a/b')).toBe(0);
    expect(climb('../x')).toBe(1);
    expect(climb('a/../..')).toBe(1);
    expect(climb('a/../b/../../../c')).toBe(2);
    expect(climb('..foo/x')).toBe(0);
  });

  it('refuses an item value that climbs out of {documents}, {outputDir} or a literal directory', () => {
    const bad = { ...vars, name: '../../../../tmp/x', dots: '..' };
    expect(() => fillChecked('{documents}/{name}.txt', bad, rules, 'argument 1')).toThrow(
      /would leave \{documents\}: "name" = "..\/..\/..\/..\/tmp\/x" climbs out/,
    );
    expect(() => fillChecked('{outputDir}/{dots}', bad, rules, 'cwd')).toThrow(/would leave \{outputDir\}/);
    expect(() => fillChecked('--out={documents}/{name}', bad, rules, 'argument 2')).toThrow(ItemValueError);
    expect(() => fillChecked('/data/out/{name}', bad, rules, 'argument 1')).toThrow(
      /would leave "\/data\/out\/"/,
    );
    // Two values that make ".." together.
    expect(() => fillChecked('{documents}/{a}{b}/x', { ...vars, a: '.', b: '.' }, rules, 'a')).toThrow(
      ItemValueError,
    );
  });

  it('keeps paths that stay inside, and the template author\'s own ".."', () => {
    expect(fillChecked('{documents}/{name}.txt', { ...vars, name: 'a/../b' }, rules, 'x')).toBe(
      '/out/documents/K1/a/../b.txt',
    );
    expect(fillChecked('{documents}/../shared/{n}', { ...vars, n: 'f' }, rules, 'x')).toBe(
      '/out/documents/K1/../shared/f',
    );
    expect(fillChecked('{documents}/{n}', { ...vars, n: '..x' }, rules, 'x')).toBe('/out/documents/K1/..x');
  });

  it('tells whether a path lies inside a directory', () => {
    expect(isInside('/a/b', '/a/b')).toBe(true);
    expect(isInside('/a/b', '/a/b/..c')).toBe(true);
    expect(isInside('/a/b', '/a/b/../c')).toBe(false);
    expect(isInside('/a/b', '/etc/passwd')).toBe(false);
  });
});

describe('the command processor refuses such items before running anything', () => {
  let outputDir: string;
  let marker: string;
  const spec = (argv: string[], extra: Partial<CommandProcessorSpec> = {}): CommandProcessorSpec => ({
    type: 'command',
    argv,
    timeoutMs: 10_000,
    ...extra,
  });
  beforeAll(async () => {
    outputDir = await mkdtemp(path.join(os.tmpdir(), 'item-values-'));
    marker = path.join(os.tmpdir(), `item-values-marker-${process.pid}-${Date.now()}`);
  });
  afterAll(async () => {
    await rm(outputDir, { recursive: true, force: true });
    await rm(marker, { force: true });
  });

  it('an option-looking value fails as InputError and the program never runs', async () => {
    // ssh would run the ProxyCommand through a shell, creating the marker.
    const host = `-oProxyCommand=touch ${marker}`;
    const ctx = processorContext({ outputDir, data: { host }, env: { PATH: process.env.PATH } });
    const err = await rejection(runCommand(spec(['ssh', '{host}', 'true']), ctx), ApplicationFailure);
    expect(err.type).toBe('InputError');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(`field "host" = ${JSON.stringify(host)}`);
    expect(existsSync(marker)).toBe(false);
  });

  it('a value climbing out of {documents} fails as InputError and writes nothing outside', async () => {
    const ctx = processorContext({
      outputDir,
      data: { name: `../../../${path.basename(marker)}` },
      env: { PATH: process.env.PATH },
    });
    const err = await rejection(
      runCommand(spec(['touch', '{documents}/{name}.txt']), ctx),
      ApplicationFailure,
    );
    expect(err.type).toBe('InputError');
    expect(err.message).toContain('would leave {documents}');
    expect(existsSync(`${marker}.txt`)).toBe(false);
    expect(await readdir(outputDir)).toEqual([]);
  });

  it('a cwd climbing out of {outputDir} fails as InputError', async () => {
    const ctx = processorContext({ outputDir, data: { sub: '../..' }, env: { PATH: process.env.PATH } });
    const err = await rejection(
      runCommand(spec(['pwd'], { cwd: '{outputDir}/{sub}' }), ctx),
      ApplicationFailure,
    );
    expect(err.type).toBe('InputError');
    expect(err.message).toContain('cwd');
  });

  it('with allowOptionValues the value reaches the program as an option', async () => {
    const ctx = processorContext({ outputDir, data: { flag: '-n' }, env: { PATH: process.env.PATH } });
    const out = await runCommand(spec(['echo', '{flag}', 'hi'], { allowOptionValues: ['flag'] }), ctx);
    expect(out.output).toBe('hi'); // echo -n: no trailing newline, so "-n" was an option
  });
});

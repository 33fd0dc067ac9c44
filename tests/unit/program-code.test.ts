// Item values never become code, wherever the program that runs it sits in the argv: behind a
// wrapper (timeout, env, sudo, find -exec…), in code attached to its flag (perl -e…, --eval=…), in
// a remote shell (ssh's command, scp/rsync `host:` paths). Each case here ran `$(touch …)` before.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../activities/processors/command';
import { fillArgv, ItemValueError, type ItemValueRules } from '../../activities/processors/item-values';
import { stepsFromConfig } from '../../src/client/steps';
import { Config } from '../../src/config/schema';
import { processorContext } from '../helpers/processor-context';
import { rejection } from '../helpers/rejection';

const rules: ItemValueRules = {
  fixed: new Set(['documents', 'outputDir', 'attempt']),
  directories: new Set(['documents', 'outputDir']),
};
const x = '$(touch /tmp/pwned)';
const data = { documents: '/out/documents/K1', outputDir: '/out', attempt: 1, x, host: 'srv1' };

const refusal = (argv: string[], r: ItemValueRules = rules): string => {
  try {
    fillArgv(argv, data, r);
  } catch (e) {
    expect(e).toBeInstanceOf(ItemValueError);
    return (e as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(argv)}`);
};

describe('the program behind a wrapper', () => {
  it.each([
    [['timeout', '30', 'sh', '-c', 'echo {x}'], 4, 'sh'],
    [['timeout', '-s', 'KILL', '-k', '5', '30', 'bash', '-c', 'echo {x}'], 8, 'bash'],
    [['env', 'A=1', 'B=2', 'bash', '-c', 'echo {x}'], 5, 'bash'],
    [['env', '-i', '-u', 'HOME', 'sh', '-c', 'echo {x}'], 6, 'sh'],
    [['nice', '-n', '5', 'sh', '-c', 'echo {x}'], 5, 'sh'],
    [['sudo', '-u', 'svc', 'sh', '-c', 'echo {x}'], 5, 'sh'],
    [['doas', '-u', 'svc', 'sh', '-c', 'echo {x}'], 5, 'sh'],
    [['busybox', 'sh', '-c', 'echo {x}'], 3, 'sh'],
    [['xargs', '-n', '1', 'sh', '-c', 'echo {x}'], 5, 'sh'],
    [['find', '.', '-name', '*.txt', '-exec', 'sh', '-c', 'echo {x}', ';'], 7, 'sh'],
    [['setsid', '-w', 'sh', '-c', 'echo {x}'], 4, 'sh'],
    [['nohup', 'sh', '-c', 'echo {x}'], 3, 'sh'],
    [['stdbuf', '-oL', '-e', '0', 'sh', '-c', 'echo {x}'], 6, 'sh'],
    [['flock', '/tmp/lock', 'sh', '-c', 'echo {x}'], 4, 'sh'],
    [['chroot', '/srv/root', 'sh', '-c', 'echo {x}'], 4, 'sh'],
    [['/usr/bin/timeout', '5', '/usr/bin/nice', 'sudo', '-u', 'a', '/bin/sh', '-c', 'echo {x}'], 8, 'sh'],
    // A wrapper this code does not know still has its interpreter checked.
    [['docker', 'exec', 'box', 'sh', '-c', 'echo {x}'], 5, 'sh'],
  ])('%j: argument %i is the code %s runs', (argv, at, program) => {
    expect(refusal(argv)).toContain(`argument ${at} is the code ${program} runs`);
  });

  it('refuses code options of the wrappers themselves (flock -c, su -c, env -S, watch, sg)', () => {
    expect(refusal(['flock', '/tmp/lock', '-c', 'echo {x}'])).toMatch(/code flock runs \(after -c\)/);
    expect(refusal(['su', 'svc', '-c', 'echo {x}'])).toMatch(/code su runs/);
    expect(refusal(['runuser', '-u', 'svc', '--', 'sh', '-c', 'echo {x}'])).toMatch(/code sh runs/);
    expect(refusal(['env', '-S', 'sh -c "echo {x}"'])).toMatch(/code env runs/);
    expect(refusal(['watch', '-n', '5', 'echo', '{x}'])).toMatch(/code watch runs/);
    expect(refusal(['sg', 'staff', 'echo {x}'])).toMatch(/code sg runs/);
  });

  it('never lets an item value choose the program a wrapper runs', () => {
    expect(refusal(['timeout', '30', '{x}', 'a'])).toContain(
      'argument 2 ("{x}") is the program timeout runs',
    );
    expect(refusal(['env', 'A=1', '{x}'])).toContain('is the program env runs');
  });

  it('keeps values a wrapped program reads as arguments, not code', () => {
    expect(fillArgv(['timeout', '30', 'sh', '-c', 'echo "$1"', 'sh', '{x}'], data, rules)[6]).toBe(x);
    expect(fillArgv(['env', 'A=1', 'convert', '{x}', 'out.png'], data, rules)[3]).toBe(x);
    expect(fillArgv(['nice', '-n', '5', 'sh', 'script.sh', '{x}'], data, rules)[5]).toBe(x);
    expect(fillArgv(['find', '.', '-exec', 'grep', '-l', '{x}', '{}', ';'], data, rules)[5]).toBe(x);
  });
});

describe('code attached to its flag, and combined flags', () => {
  it.each([
    [['perl', '-eprint "{x}"'], 'perl', 'after -eprint'],
    [['perl', '-le', 'print "{x}"'], 'perl', 'after -le'],
    [['perl', '-I', 'lib', '-Mstrict', '-e', '1', '-e', 'print "{x}"'], 'perl', 'after -e'],
    [['node', '--eval=console.log("{x}")'], 'node', 'after --eval='],
    [['node', '--eval', 'f("{x}")'], 'node', 'after --eval'],
    [['node', '-pe', '"{x}"'], 'node', 'after -pe'],
    [['python3', '-cprint("{x}")'], 'python3', 'after -cprint'],
    [['python3', '-I', '-W', 'ignore', '-c', 'print("{x}")'], 'python3', 'after -c'],
    [['ruby', '-e', 'puts "{x}"'], 'ruby', 'after -e'],
    [['ruby', '-W', '-e', 'puts "{x}"'], 'ruby', 'after -e'],
    [['bash', '-xc', 'echo {x}'], 'bash', 'after -xc'],
    [['bash', '-lc', 'echo {x}'], 'bash', 'after -lc'],
    [['sh', '-c', '-e', 'echo {x}'], 'sh', 'after -c'],
    [['php', '-r', 'echo "{x}";'], 'php', 'after -r'],
    [['pwsh', '-NoProfile', '-Command', 'Write-Output {x}'], 'pwsh', 'after -Command'],
    [['awk', '-F,', '{print "{x}"}'], 'awk', 'as its program'],
    [['sed', '-i', 's/a/{x}/', 'f.txt'], 'sed', 'as its program'],
    [['sed', '-e', 's/a/{x}/e', 'f.txt'], 'sed', 'after -e'],
  ])('%j: the code %s runs', (argv, program, where) => {
    expect(refusal(argv)).toContain(`is the code ${program} runs (${where}`);
  });

  it('keeps a value passed to the interpreter as an argument, or as awk data', () => {
    expect(fillArgv(['perl', '-le', 'print $ARGV[0]', '{x}'], data, rules)[3]).toBe(x);
    expect(fillArgv(['python3', '-c', 'import sys; print(sys.argv[1])', '{x}'], data, rules)[3]).toBe(x);
    expect(fillArgv(['awk', '-v', 'v={x}', 'BEGIN{print v}'], data, rules)[2]).toBe(`v=${x}`);
    expect(fillArgv(['sed', 's/a/b/', '{x}'], data, rules)[2]).toBe(x);
  });
});

describe('remote shells: ssh, scp and rsync', () => {
  it('refuses a value after "host:" in scp and rsync, and ssh behind a wrapper', () => {
    expect(refusal(['scp', '-P', '2222', 'local.txt', 'srv:/in/{x}'])).toContain(
      'argument 4 is a remote path (host:…) scp hands to a shell on that host',
    );
    expect(refusal(['scp', 'srv:/out/{x}', '.'])).toContain('scp hands to a shell');
    expect(refusal(['rsync', '-az', '-e', 'ssh -p 22', 'a/', 'user@srv:{x}/'])).toContain('rsync hands');
    // A value that brings the ":" makes a local path remote.
    expect(() => fillArgv(['scp', '{f}', 'backup/'], { ...data, f: 'h:$(id)' }, rules)).toThrow(/scp hands/);
    expect(refusal(['timeout', '9', 'ssh', 'srv', 'cat', '{x}'])).toContain('the command ssh sends');
  });

  it('keeps local paths and a value naming only the host; allowRemoteValues lets values through', () => {
    expect(fillArgv(['scp', '/data/{x}', '{host}:/in/'], data, rules)).toEqual([
      'scp',
      `/data/${x}`,
      'srv1:/in/',
    ]);
    expect(fillArgv(['rsync', '-a', './{x}', 'rsync://srv/mod/'], data, rules)).toHaveLength(4);
    const open = { ...rules, allowRemoteValues: true };
    expect(fillArgv(['scp', 'f', 'srv:/in/{x}'], data, open)[2]).toBe(`srv:/in/${x}`);
    expect(fillArgv(['ssh', 'srv', 'cat', '{x}'], data, open)[3]).toBe(x);
    // Code on this machine stays refused whatever the remote opt-in.
    expect(() => fillArgv(['timeout', '1', 'sh', '-c', '{x}'], data, open)).toThrow(ItemValueError);
  });
});

describe('command.allowRemoteValues', () => {
  it('travels from the settings to the step (only when set), and the processor applies it', async () => {
    const step = (extra: Record<string, unknown>) =>
      stepsFromConfig(
        Config.parse({ processor: 'command', command: { argv: ['scp', 'f', 'srv:/in/{x}'], ...extra } }),
      )[0]!.processor;
    expect(step({ allowRemoteValues: 'true' })).toMatchObject({ allowRemoteValues: true });
    expect(step({})).not.toHaveProperty('allowRemoteValues');
    expect(step({ allowRemoteValues: false })).not.toHaveProperty('allowRemoteValues');
    // The processor refuses before running scp at all; with the opt-in it gets past the rule.
    const outputDir = await mkdtemp(path.join(os.tmpdir(), 'program-code-remote-'));
    const ctx = () => processorContext({ outputDir, data: { x: 'a b' }, env: { PATH: '/nonexistent' } });
    const spec = { type: 'command' as const, argv: ['scp', 'f', 'srv:/in/{x}'], timeoutMs: 5_000 };
    const refused = await rejection(runCommand(spec, ctx()), ApplicationFailure);
    expect(refused.type).toBe('InputError');
    expect(refused.message).toContain('--allow-remote-values');
    const allowed = await rejection(
      runCommand({ ...spec, allowRemoteValues: true }, ctx()),
      ApplicationFailure,
    );
    expect(allowed.type).toBe('CommandNotFound'); // past the rule: scp itself is looked up (not on this PATH)
    await rm(outputDir, { recursive: true, force: true });
  });
});

describe('the command processor runs none of them', () => {
  let outputDir: string;
  let marker: string;
  beforeAll(async () => {
    outputDir = await mkdtemp(path.join(os.tmpdir(), 'program-code-'));
    marker = path.join(os.tmpdir(), `program-code-marker-${process.pid}-${Date.now()}`);
  });
  afterAll(async () => {
    await rm(outputDir, { recursive: true, force: true });
    await rm(marker, { force: true });
  });

  it.each([
    [['timeout', '30', 'sh', '-c', 'echo {x}']],
    [['env', 'A=1', 'bash', '-c', 'echo {x}']],
    [['nice', '-n', '5', 'sh', '-c', 'echo {x}']],
    [['setsid', 'sh', '-c', 'echo {x}']],
    [['nohup', 'sh', '-c', 'echo {x}']],
    [['stdbuf', '-oL', 'sh', '-c', 'echo {x}']],
    [['find', '.', '-maxdepth', '0', '-exec', 'sh', '-c', 'echo {x}', ';']],
    [['xargs', '-0', 'sh', '-c', 'echo {x}']],
    [['perl', '-eprint "{x}"']],
    [['node', '--eval=console.log("{x}")']],
    [['python3', '-cprint("{x}")']],
    [['bash', '-xc', 'echo {x}']],
  ])('%j fails as InputError and creates no file', async (argv) => {
    const ctx = processorContext({
      outputDir,
      data: { x: `$(touch ${marker})` },
      env: { PATH: process.env.PATH },
    });
    const err = await rejection(
      runCommand({ type: 'command', argv, timeoutMs: 10_000 }, ctx),
      ApplicationFailure,
    );
    expect(err.type).toBe('InputError');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('an item value is never code');
    expect(existsSync(marker)).toBe(false);
  });
});

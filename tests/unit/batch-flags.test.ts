// The flag table (src/cli/batch-flags.ts) against the config schema, commander and the docs: every
// setting has a flag or is listed as having none, each flag reaches its setting and names itself in
// errors, and retry-failed's flags lay over the old batch's processor. No server.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { StepSpec } from '../../workflows/types';
import { BATCH_FLAGS, SETTINGS_WITHOUT_FLAG } from '../../src/cli/batch-flags';
import {
  addBatchOptions,
  addRetryFailedOptions,
  FLAG_KEYS,
  FLAG_OF_SETTING,
  flagName,
  RETRY_FLAG_KEYS,
  resolveBatchConfig,
  settingsFromFlags,
} from '../../src/cli/batch-options';
import { overridesFrom } from '../../src/cli/retry-failed-batch';
import { SETTING_GROUPS } from '../../src/config/load';
import { Config } from '../../src/config/schema';
import { rejection } from '../helpers/rejection';

const root = path.resolve(import.meta.dirname, '../..');

/** Every setting path the schema knows: top-level fields, and each field of a settings group. */
const settingPaths = (): string[] =>
  Object.keys(Config.shape).flatMap((field) => {
    const group = SETTING_GROUPS[field];
    return group ? Object.keys(group).map((sub) => `${field}.${sub}`) : [field];
  });

/** The error message of a rejected promise. */
const errorOf = async (p: Promise<unknown>): Promise<string> => (await rejection(p, Error)).message;

describe('the flag table', () => {
  it('gives every setting of the schema a flag, or lists it among the settings without one', () => {
    const withoutFlag = new Set<string>(SETTINGS_WITHOUT_FLAG);
    const missing = settingPaths().filter((p) => !(p in FLAG_OF_SETTING) && !withoutFlag.has(p));
    expect(missing).toEqual([]);
    expect(settingPaths().filter((p) => p in FLAG_OF_SETTING && withoutFlag.has(p))).toEqual([]);
  });

  it('maps flags only to settings that exist', () => {
    const known = new Set(settingPaths());
    expect(Object.keys(FLAG_OF_SETTING).filter((p) => !known.has(p))).toEqual([]);
    expect(SETTINGS_WITHOUT_FLAG.filter((p) => !known.has(p))).toEqual([]);
    expect(FLAG_OF_SETTING).toMatchObject({
      'http.ca': '--target-ca',
      'command.timeoutMs': '--timeout',
      heartbeatTimeoutMs: '--heartbeat-timeout',
    });
  });

  it('becomes commander options whose parsed names are the table keys', () => {
    const cmd = addBatchOptions(new Command('run').exitOverride());
    expect(cmd.options.map((o) => o.long)).toEqual(['--config', ...FLAG_KEYS.map(flagName)]);
    expect(cmd.options.slice(1).map((o) => o.attributeName())).toEqual(FLAG_KEYS);
    cmd.parse(['--target-ca', 'ca.pem', '--header', 'A: 1', '--header', 'B: 2', '--strict', '--rate', '3'], {
      from: 'user',
    });
    expect(cmd.opts()).toEqual({ targetCa: 'ca.pem', header: ['A: 1', 'B: 2'], strict: true, rate: '3' });
  });

  it("gives retry-failed the flags marked for it, with retry-failed's own help", () => {
    const cmd = addRetryFailedOptions(new Command('retry-failed'));
    expect(cmd.options.map((o) => o.attributeName())).toEqual(RETRY_FLAG_KEYS);
    expect(RETRY_FLAG_KEYS).toEqual([
      ...['processor', 'url', 'method', 'header', 'body', 'bodyMode', 'fileField', 'connections'],
      'maxResponseBytes',
      ...[
        'command',
        'cwd',
        'allowOptionValues',
        'module',
        'timeout',
        'heartbeatTimeout',
        'concurrency',
        'rate',
      ],
      ...['maxAttempts', 'failFast', 'maxFailures', 'maxFailureRate', 'outputDir', 'batchId', 'taskQueue'],
    ]);
    const help = (flag: string) => cmd.options.find((o) => o.long === flag)?.description;
    expect(help('--url')).toBe('URL template instead of the old one');
    expect(help('--fail-fast')).toBe(BATCH_FLAGS.failFast.help);
  });

  it('are all named in the batch options of docs/cli.md', async () => {
    const doc = await readFile(path.join(root, 'docs', 'cli.md'), 'utf8');
    const section = /\n## Batch options\n([\s\S]*?)\n## /.exec(doc)?.[1] ?? '';
    const named = new Set([...section.matchAll(/`(--[a-z-]+)/g)].map((m) => m[1]));
    expect(['--config', ...FLAG_KEYS.map(flagName)].filter((f) => !named.has(f))).toEqual([]);
  });
});

describe('flags as settings', () => {
  it('sets the timeout of the chosen processor, and a group only when one of its flags is given', async () => {
    expect(await settingsFromFlags({ timeout: '2m', cwd: '/tmp' }, 'command')).toEqual({
      command: { cwd: '/tmp', timeoutMs: 120_000 },
    });
    expect(await settingsFromFlags({ timeout: '5s', header: ['X-A: 1'], limit: '3' }, 'http')).toEqual({
      http: { headers: { 'X-A': '1' }, timeoutMs: 5_000 },
      limit: '3',
    });
    const config = await resolveBatchConfig({ module: './m.ts', timeout: '90s' }, {});
    expect(config.processor).toBe('module');
    expect(config.module).toEqual({ path: './m.ts', timeoutMs: 90_000 });
    expect(config.http.timeoutMs).toBe(30_000);
  });

  it('names the flag given in a validation error, also for a field of each processor', async () => {
    const timeout = await errorOf(resolveBatchConfig({ command: 'echo {id}', timeout: '50' }, {}));
    expect(timeout).toContain('flag --timeout: 50 is too small: at least 100');
    const ca = await errorOf(resolveBatchConfig({ url: 'http://x', targetCa: '' }, {}));
    expect(ca).toContain('flag --target-ca: must not be empty');
    const duration = await errorOf(resolveBatchConfig({ url: 'http://x', stopGrace: 'soon' }, {}));
    expect(duration).toContain('--stop-grace "soon" is not a duration');
  });
});

describe('retry-failed flags over the old batch', () => {
  const oldCommand: StepSpec[] = [
    {
      name: 'process',
      processor: {
        type: 'command',
        argv: ['convert', '{path}'],
        env: { A: '1' },
        timeoutMs: 300_000,
        retryableExitCodes: [75],
      },
    },
  ];

  it('changes only the settings named, and validates with the flag names of `start`', async () => {
    const flags = { timeout: '2m', concurrency: '4', worker: true };
    const o = await overridesFrom(flags, new Set(['timeout', 'concurrency']));
    expect(o.limits).toEqual({ concurrency: 4 });
    expect(o.retry).toEqual({});
    const [step] = await o.steps!(oldCommand);
    expect(step?.processor).toMatchObject({
      type: 'command',
      argv: ['convert', '{path}'],
      env: { A: '1' },
      timeoutMs: 120_000,
      retryableExitCodes: [75],
    });
    const tooMany = await errorOf(
      overridesFrom({ concurrency: '5000', worker: true }, new Set(['concurrency'])),
    );
    expect(tooMany).toContain('flag --concurrency: 5000 is too big: at most 1000');
  });

  it("keeps the old http processor's mutual TLS and cost source when another setting changes", async () => {
    const tls = {
      cert: '/certs/c.pem',
      key: '/certs/k.pem',
      passphrase: '${env:KEY_PASS}',
      ca: '/certs/ca.pem',
    };
    const oldHttp: StepSpec[] = [
      {
        name: 'process',
        processor: {
          type: 'http',
          url: 'http://old/{id}',
          method: 'POST',
          headers: {},
          timeoutMs: 30_000,
          costFrom: '/usage/cost',
          tls,
        },
      },
    ];
    const o = await overridesFrom({ timeout: '60s', worker: true }, new Set(['timeout']));
    const [step] = await o.steps!(oldHttp);
    expect(step?.processor).toMatchObject({
      url: 'http://old/{id}',
      timeoutMs: 60_000,
      costFrom: '/usage/cost',
      tls,
    });
  });

  it('adds or replaces a header by name, whatever its case, keeping the others', async () => {
    const oldHttp: StepSpec[] = [
      {
        name: 'process',
        processor: {
          type: 'http',
          url: 'http://old/{id}',
          method: 'PUT',
          headers: { authorization: 'Bearer old', 'X-Keep': 'yes' },
          timeoutMs: 30_000,
        },
      },
    ];
    const flags = { header: ['Authorization: Bearer new'], worker: true };
    const o = await overridesFrom(flags, new Set(['header']));
    const [step] = await o.steps!(oldHttp);
    expect(step?.processor).toMatchObject({
      url: 'http://old/{id}',
      method: 'PUT',
      headers: { 'X-Keep': 'yes', Authorization: 'Bearer new' },
    });
    const pipeline = await errorOf(Promise.resolve(o.steps!([...oldHttp, { ...oldHttp[0]!, name: 'b' }])));
    expect(pipeline).toContain(
      'the batch ran a pipeline of 2 steps; --header cannot say which step to change',
    );
  });
});

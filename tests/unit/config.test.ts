// Settings: precedence (flags > DURABATCH_* env > file > defaults), errors that name who set the bad
// value, the value and the allowed range, the shipped templates, and `durabatch config` output with
// secrets masked (run as a real child process, the way users run it).
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBatchConfig, resolveBatchConfig, type BatchFlags } from '../../src/cli/batch-options';
import { loadConfig, SETTING_GROUPS } from '../../src/config/load';
import { rejection } from '../helpers/rejection';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'config-test-'));
});

async function configFile(name: string, content: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(content, null, 2));
  return file;
}

/** The error message of a rejected promise. */
const errorOf = async (p: Promise<unknown>): Promise<string> => (await rejection(p, Error)).message;

describe('precedence', () => {
  it('takes a setting from flags over env over file over defaults, and says where it came from', async () => {
    const file = await configFile('precedence.json', {
      concurrency: 3,
      http: { url: 'http://file/x', timeoutMs: 1000 },
    });
    const env = { DURABATCH_CONCURRENCY: '7', DURABATCH_HTTP_URL: 'http://env/x' };
    const layers = async (flags: BatchFlags, e: NodeJS.ProcessEnv) => {
      const { config, origins } = await loadBatchConfig(flags, e);
      return { config, origins };
    };

    const all = await layers({ config: file, concurrency: '9', url: 'http://flag/x' }, env);
    expect(all.config.concurrency).toBe(9);
    expect(all.config.http.url).toBe('http://flag/x');
    expect(all.origins.concurrency).toMatchObject({ kind: 'flag', name: '--concurrency' });
    expect(all.origins['http.url']).toMatchObject({ kind: 'flag', name: '--url' });
    // A nested field the flags did not touch keeps the file's value.
    expect(all.config.http.timeoutMs).toBe(1000);

    const noFlag = await layers({ config: file }, env);
    expect(noFlag.config.concurrency).toBe(7);
    expect(noFlag.config.http.url).toBe('http://env/x');
    expect(noFlag.origins.concurrency).toMatchObject({ kind: 'env', name: 'DURABATCH_CONCURRENCY' });

    const fileOnly = await layers({ config: file }, {});
    expect(fileOnly.config.concurrency).toBe(3);
    expect(fileOnly.origins.concurrency).toMatchObject({ kind: 'file', name: file });

    const defaults = await layers({}, {});
    expect(defaults.config.concurrency).toBe(10);
    expect(defaults.origins.concurrency).toBeUndefined();
  });

  it('takes a config file http.body as the JSON itself or as JSON text, in a step too', async () => {
    const body = { patient: { id: '{patient_id}' }, doc: '<id extension="{steps.register.body.id}"/>' };
    const file = await configFile('body.json', {
      http: { url: 'http://x/a', body },
      steps: [{ name: 'submit', processor: 'http', http: { url: 'http://x/b', body: [1, '{key}'] } }],
    });
    const { config } = await loadConfig({ file, env: {} });
    expect(JSON.parse(config.http.body!)).toEqual(body);
    expect(config.steps![0]!.http!.body).toBe('[1,"{key}"]');
    const text = await configFile('body-text.json', { http: { url: 'http://x/a', body: '{"a": "{b}"}' } });
    expect((await loadConfig({ file: text, env: {} })).config.http.body).toBe('{"a": "{b}"}');
    const bad = await configFile('body-bad.json', { http: { url: 'http://x/a', body: 42 } });
    expect(await errorOf(loadConfig({ file: bad, env: {} }))).toContain('http.body');
  });

  it('reads log levels from DURABATCH_LOG_LEVEL and DURABATCH_LOG_LEVEL_<OPERATION>', async () => {
    const file = await configFile('levels.json', {
      logLevel: 'warn',
      logLevels: { processor: 'info', source: 'error' },
    });
    const { config } = await loadConfig({
      file,
      env: { DURABATCH_LOG_LEVEL: 'debug', DURABATCH_LOG_LEVEL_PROCESSOR: 'trace' },
    });
    expect(config.logLevel).toBe('debug');
    expect(config.logLevels).toEqual({ processor: 'trace', source: 'error' });
    expect(Object.keys(SETTING_GROUPS)).toContain('logLevels');
  });
});

describe('errors', () => {
  it('names the config file and the unknown key, and lists the valid ones', async () => {
    const file = await configFile('unknown.json', { concurency: 5, http: { url: 'http://x', retries: 3 } });
    const message = await errorOf(loadConfig({ file, env: {} }));
    expect(message).toContain(`${file}: "concurency": unknown setting (did you mean "concurrency"?)`);
    expect(message).toMatch(/valid settings: processor, http, .*concurrency.*taskQueue/);
    expect(message).toContain(
      `${file}: "http.retries": unknown setting; valid settings in "http": url, method,`,
    );
  });

  it('names the flag, the value and the allowed range', async () => {
    const message = await errorOf(resolveBatchConfig({ concurrency: '5000', url: 'http://x' }, {}));
    expect(message).toContain('flag --concurrency: 5000 is too big: at most 1000');
  });

  it("--concurrency auto is the machine's core count; other words are refused", async () => {
    const auto = await resolveBatchConfig({ concurrency: 'auto', url: 'http://x' }, {});
    expect(auto.concurrency).toBe(os.availableParallelism());
    const env = await resolveBatchConfig({ url: 'http://x' }, { DURABATCH_CONCURRENCY: 'AUTO' });
    expect(env.concurrency).toBe(os.availableParallelism());
    const message = await errorOf(resolveBatchConfig({ concurrency: 'many', url: 'http://x' }, {}));
    expect(message).toContain('flag --concurrency');
  });

  it('selection flags reach the staging options: --where repeats, --limit is a number', async () => {
    const { stageOptionsFromConfig } = await import('../../src/config/stage-options');
    const config = await resolveBatchConfig(
      { url: 'http://x', rows: '2-9', keys: 'a,b', where: ['country=FR', 'score>=3'], limit: '5' },
      { DURABATCH_WHERE: 'ignored=1' },
    );
    expect(stageOptionsFromConfig(config, '/h').select).toEqual({
      rows: '2-9',
      keys: 'a,b',
      where: ['country=FR', 'score>=3'],
      limit: 5,
    });
    const fromEnv = await resolveBatchConfig({ url: 'http://x' }, { DURABATCH_WHERE: 'country=FR' });
    expect(fromEnv.where).toEqual(['country=FR']);
  });

  it('names the environment variable, the value and the allowed values', async () => {
    const env = {
      DURABATCH_MAX_ATTEMPTS: '0',
      DURABATCH_FAIL_FAST: 'yes',
      DURABATCH_LOG_LEVEL_PROCESSOR: 'loud',
    };
    const message = await errorOf(loadConfig({ env }));
    expect(message).toContain('environment variable DURABATCH_MAX_ATTEMPTS: 0 is too small: at least 1');
    expect(message).toContain(
      'environment variable DURABATCH_FAIL_FAST: yes is not allowed: use one of true, false',
    );
    expect(message).toContain(
      'environment variable DURABATCH_LOG_LEVEL_PROCESSOR: loud is not allowed: use one of trace,',
    );
  });

  it('names the file and field of a wrong value, and never echoes a secret', async () => {
    const file = await configFile('wrong.json', {
      processor: 'ftp',
      rate: 0,
      steps: [
        {
          name: 'a',
          processor: 'http',
          http: { url: 'http://x', headers: { Authorization: 'Bearer s3cret' } },
          maxAttempts: 500,
        },
      ],
    });
    const message = await errorOf(loadConfig({ file, env: {} }));
    expect(message).toContain(`${file}: "processor": ftp is not allowed: use one of http, command, module`);
    expect(message).toContain(`${file}: "rate": 0 is too small: must be more than 0`);
    expect(message).toContain(`${file}: "steps.0.maxAttempts": 500 is too big: at most 100`);
    expect(message).not.toContain('s3cret');
  });
});

describe('templates', () => {
  it('every config/*.json loads and explains each of its settings in "$comment"', async () => {
    const files = (await readdir(path.join(root, 'config'))).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual([
      'development.json',
      'production.json',
      'service.json',
      'staging.json',
      'testing.json',
    ]);
    for (const name of files) {
      const file = path.join(root, 'config', name);
      const { config } = await loadConfig({ file, env: {} });
      expect(config.concurrency, name).toBeGreaterThan(0);

      const raw = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown> & {
        $comment: Record<string, string>;
      };
      const settings = Object.entries(raw)
        .filter(([k]) => k !== '$comment')
        .flatMap(([k, v]) =>
          SETTING_GROUPS[k] && v && typeof v === 'object' ? Object.keys(v).map((s) => `${k}.${s}`) : [k],
        );
      expect(Object.keys(raw.$comment).sort(), name).toEqual(settings.sort());
      for (const [k, text] of Object.entries(raw.$comment))
        expect(text.length, `${name} ${k}`).toBeGreaterThan(10);
    }
    const prod = await loadConfig({ file: path.join(root, 'config', 'production.json'), env: {} });
    expect(prod.config.http.headers.Authorization).toBe('Bearer ${env:API_TOKEN}');
    expect(prod.config.concurrency).toBeGreaterThan(
      (await loadConfig({ file: path.join(root, 'config', 'development.json'), env: {} })).config.concurrency,
    );
  });
});

describe('durabatch config', () => {
  // The user's own DURABATCH_* settings must not leak into the expectations.
  const cleanEnv = (extra: Record<string, string>) => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DURABATCH_'))),
    ...extra,
  });
  const cli = (args: string[], env: Record<string, string> = {}) =>
    run(process.execPath, ['bin/durabatch.js', 'config', ...args], { cwd: root, env: cleanEnv(env) });

  it('prints each value with its source and masks secrets', async () => {
    const file = await configFile('secrets.json', {
      http: {
        // (A `user:pass@` URL is refused: tests/unit/config-credentials.test.ts.)
        url: 'https://api.example.com/p/{id}?api_key=k3y&page=1',
        headers: { Authorization: 'Bearer ${env:API_TOKEN}', 'X-Tenant': 'tenant-secret-value' },
      },
      command: { argv: ['convert', '{path}'], env: { PASSWORD: 'pa55word', HOME_DIR: '/srv' } },
      concurrency: 3,
    });
    const env = { DURABATCH_RATE: '4', DURABATCH_HTTP_TIMEOUT_MS: '2000' };
    const { stdout } = await cli(
      ['--config', file, '--max-attempts', '7', '--header', 'X-Api-Key: flag-secret', '--json'],
      env,
    );
    const out = JSON.parse(stdout) as {
      file: string;
      settings: Record<string, { value?: unknown; source: string; from?: string }>;
    };
    expect(out.file).toBe(file);
    expect(out.settings.concurrency).toEqual({ value: 3, source: 'file', from: file });
    expect(out.settings.rate).toEqual({ value: 4, source: 'env', from: 'DURABATCH_RATE' });
    expect(out.settings['http.timeoutMs']).toMatchObject({ value: 2000, source: 'env' });
    expect(out.settings.maxAttempts).toEqual({ value: 7, source: 'flag', from: '--max-attempts' });
    expect(out.settings.failFast).toEqual({ value: false, source: 'default' });
    expect(out.settings.idColumn).toEqual({ source: 'default' });
    expect(out.settings['http.headers']?.value).toEqual({
      Authorization: 'Bearer ${env:API_TOKEN}',
      'X-Tenant': '****',
      'X-Api-Key': '****',
    });
    expect(out.settings['command.env']?.value).toEqual({ PASSWORD: '****', HOME_DIR: '****' });
    expect(out.settings['http.url']?.value).toBe('https://api.example.com/p/{id}?api_key=****&page=1');
    for (const secret of ['k3y', 'tenant-secret-value', 'flag-secret', 'pa55word'])
      expect(stdout).not.toContain(secret);

    const text = await cli(['--config', file, '--concurrency', '12'], env);
    expect(text.stdout).toMatch(/concurrency\s+12\s+flag --concurrency/);
    expect(text.stdout).toMatch(/rate\s+4\s+env DURABATCH_RATE/);
    expect(text.stdout).toMatch(/maxAttempts\s+5\s+default/);
    expect(text.stdout).not.toContain('k3y');
  });

  it('exits 2 with an error naming the flag, value and range', async () => {
    const err = (await cli(['--concurrency', '5000']).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code: number; stderr: string } | undefined;
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain('flag --concurrency: 5000 is too big: at most 1000');
  });
});

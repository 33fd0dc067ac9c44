// Credentials written into the settings: a URL with `user:pass@` is refused at configuration time
// (naming the setting, with the fix, the password masked), and a literal credential in a header is
// warned about by plan, start and run before anything is stored.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { literalCredentialWarnings } from '../../src/config/credentials';
import { loadConfig } from '../../src/config/load';
import { InputError } from '../../src/errors';
import { rejection } from '../helpers/rejection';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

describe('a URL with credentials', () => {
  it('is refused from a flag, a variable and a pipeline step, naming where, with the fix', async () => {
    const url = 'https://user:hunter2@api.example.com/p/{id}';
    const cases = [
      { input: { flags: { http: { url } }, flagNames: { 'http.url': '--url' } }, where: 'flag --url' },
      { input: { env: { DURABATCH_HTTP_URL: url } }, where: 'environment variable DURABATCH_HTTP_URL' },
    ];
    const dir = await mkdtemp(path.join(os.tmpdir(), 'config-creds-'));
    const file = path.join(dir, 'pipeline.json');
    await writeFile(file, JSON.stringify({ steps: [{ name: 'send', processor: 'http', http: { url } }] }));
    cases.push({ input: { file } as never, where: `${file}: "steps.0.http.url"` });
    for (const { input, where } of cases) {
      const err = await rejection(loadConfig({ env: {}, ...input }), InputError);
      expect(err.message).toContain(
        `${where}: "https://user:****@api.example.com/p/{id}": holds a user name`,
      );
      expect(err.message).toContain('${env:');
      expect(err.message).not.toContain('hunter2');
    }
    // A user name alone is refused too; an @ in the path or query is not a credential.
    await expect(loadConfig({ env: { DURABATCH_HTTP_URL: 'https://bot@api.example.com/' } })).rejects.toThrow(
      /holds a user name/,
    );
    const ok = await loadConfig({ env: { DURABATCH_HTTP_URL: 'https://api.example.com/u/{id}?to=a@b.c' } });
    expect(ok.config.http.url).toBe('https://api.example.com/u/{id}?to=a@b.c');
  });
});

describe('a worker variable or a literal key in a URL', () => {
  it('refuses ${env:NAME} in a URL template from a flag, a variable and a step, with the fix', async () => {
    const url = 'https://api.example.com/p/{id}?key=${env:TARGET_KEY}';
    const dir = await mkdtemp(path.join(os.tmpdir(), 'config-url-env-'));
    const file = path.join(dir, 'pipeline.json');
    await writeFile(file, JSON.stringify({ steps: [{ name: 'send', processor: 'http', http: { url } }] }));
    const cases = [
      { input: { flags: { http: { url } }, flagNames: { 'http.url': '--url' } }, where: 'flag --url' },
      { input: { env: { DURABATCH_HTTP_URL: url } }, where: 'environment variable DURABATCH_HTTP_URL' },
      { input: { file } as never, where: `${file}: "steps.0.http.url"` },
    ];
    for (const { input, where } of cases) {
      const err = await rejection(loadConfig({ env: {}, ...input }), InputError);
      expect(err.message).toContain(where);
      expect(err.message).toContain('refers to a worker variable (`${env:NAME}`)');
      expect(err.message).toContain("--header 'X-Api-Key: ${env:TARGET_API_KEY}'");
    }
    // In a header it is what the docs ask for.
    const ok = await loadConfig({
      env: {},
      flags: { http: { url: 'https://api.example.com/p/{id}', headers: { 'X-Api-Key': '${env:K}' } } },
    });
    expect(ok.config.http.headers['X-Api-Key']).toBe('${env:K}');
  });

  it('refuses ${env:NAME} wherever it is never resolved: argv, working directory, body', async () => {
    const cases = [
      {
        flags: { processor: 'command', command: { argv: "curl -H 'X-Token: ${env:T}' https://x" } },
        where: 'flag --command',
      },
      {
        flags: { processor: 'command', command: { argv: ['tool', '--token=${env:T}'] } },
        where: 'flag --command (at command.argv.1)',
      },
      {
        flags: { processor: 'command', command: { argv: ['tool'], cwd: '/srv/${env:T}' } },
        where: 'command.cwd',
      },
      { flags: { http: { url: 'https://x.example/p', body: '{"token":"${env:T}"}' } }, where: 'flag --body' },
    ];
    for (const { flags, where } of cases) {
      const err = await rejection(
        loadConfig({
          env: {},
          flags: flags,
          flagNames: { 'command.argv': '--command', 'http.body': '--body' },
        }),
        InputError,
      );
      expect(err.message).toContain(where);
      expect(err.message).toContain('refers to a worker variable (`${env:NAME}`)');
    }
    // In command.env it is resolved on the worker: accepted.
    const ok = await loadConfig({
      env: {},
      flags: { processor: 'command', command: { argv: ['tool'], env: { TOKEN: '${env:T}' } } },
    });
    expect(ok.config.command?.env).toEqual({ TOKEN: '${env:T}' });
  });

  it('warns about a literal secret-named query parameter, not about one from an item value', async () => {
    const { config, sources } = await loadConfig({
      env: {},
      flags: { http: { url: 'https://api.example.com/p/{id}?api_key=sk-live-1&page=2&access_token={tok}' } },
      flagNames: { 'http.url': '--url' },
    });
    const warnings = literalCredentialWarnings(config, sources);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      'warning: URL query parameter "api_key" (flag --url) holds a literal credential',
    );
    expect(warnings[0]).toContain("--header 'X-Api-Key: ${env:API_KEY}'");
    expect(warnings[0]).not.toContain('sk-live-1');
    const step = await loadConfig({
      env: {},
      flags: {
        steps: [
          { name: 'a', processor: 'http', http: { url: 'https://x.example/a?token=abc123' } },
          { name: 'b', processor: 'http', http: { url: 'https://x.example/b?q=1' } },
        ],
      },
    });
    expect(literalCredentialWarnings(step.config, step.sources)).toEqual([
      expect.stringContaining('URL query parameter "token" (flag steps) holds a literal credential'),
    ]);
  });
});

describe('a literal credential in a header', () => {
  it('is found by name or auth scheme; ${env:…} references and plain headers are not', async () => {
    const { config, sources } = await loadConfig({
      env: {},
      flags: {
        http: {
          url: 'https://api.example.com',
          headers: {
            Authorization: 'Bearer abc123',
            'X-Api-Key': 'sk-live-1',
            'X-Custom': 'Token t0k3n',
            'X-Token-Ref': 'Bearer ${env:API_TOKEN}',
            'X-Tenant': 'acme',
          },
        },
      },
      flagNames: { 'http.headers': '--header' },
    });
    const warnings = literalCredentialWarnings(config, sources);
    expect(warnings.map((w) => /header "([^"]+)"/.exec(w)?.[1])).toEqual([
      'Authorization',
      'X-Api-Key',
      'X-Custom',
    ]);
    expect(warnings[0]).toContain('(flag --header)');
    expect(warnings[0]).toContain('"Authorization: Bearer ${env:AUTHORIZATION}"');
    expect(warnings[1]).toContain('"X-Api-Key: ${env:X_API_KEY}"');
    for (const w of warnings) expect(w).not.toMatch(/abc123|sk-live-1|t0k3n/);
  });

  it("is found in a command's env too, by the variable's name", async () => {
    const { config } = await loadConfig({
      env: {},
      flags: {
        processor: 'command',
        command: { argv: ['upload'], env: { API_TOKEN: 'tok-123456', REF_TOKEN: '${env:T}', MODE: 'fast' } },
      },
    });
    const warnings = literalCredentialWarnings(config);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('variable "API_TOKEN"');
    expect(warnings[0]).toContain('"API_TOKEN": "${env:API_TOKEN}"');
    expect(warnings[0]).not.toContain('tok-123456');
  });

  it('is warned about by plan on stderr, naming the header (start and run load settings the same way)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'config-creds-cli-'));
    const csv = path.join(dir, 'a.csv');
    await writeFile(csv, 'id\n1\n');
    const { stderr } = await run(
      process.execPath,
      [
        'bin/durabatch.js',
        'plan',
        csv,
        '--url',
        'https://api.example.com/x/{id}?api_key=sk-live-q',
        '--header',
        'X-Api-Key: sk-live-9',
      ],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DURABATCH_HOME: path.join(dir, 'home'),
        },
      },
    );
    expect(stderr).toContain('warning: header "X-Api-Key" (flag --header) holds a literal credential');
    expect(stderr).toContain('X-Api-Key: ${env:X_API_KEY}');
    expect(stderr).not.toContain('sk-live-9');
    expect(stderr).toContain(
      'warning: URL query parameter "api_key" (flag --url) holds a literal credential',
    );
  });
});

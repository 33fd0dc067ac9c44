// Logging settings: per-operation levels that really reach the log file, credentials redacted, and
// the secret masking `durabatch config` and config errors rely on.
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLevelsFromEnv } from '../../src/logging/levels';
import { createLogger, operationLogger } from '../../src/logging/logger';
import { loggedText } from '../../src/logging/log-text';
import {
  isSecretName,
  maskArgv,
  maskHeaders,
  maskSecrets,
  maskSecretText,
  maskUrl,
} from '../../src/logging/secrets';

async function logLines(write: (file: string) => void): Promise<Record<string, unknown>[]> {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'config-logging-')), 'logs', 'worker.jsonl');
  write(file);
  return (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('operation log levels', () => {
  it('lets one operation log below the base level without opening up the others', async () => {
    const levels = { processor: 'debug', source: 'warn' } as const;
    const lines = await logLines((file) => {
      const base = createLogger({ level: 'info', file, terminalLevel: 'silent', pretty: false });
      operationLogger(base, 'processor', levels).debug('processor debug');
      operationLogger(base, 'results', levels).debug('results debug');
      operationLogger(base, 'results', levels).info('results info');
      operationLogger(base, 'source', levels).info('source info');
      operationLogger(base, 'source', levels).warn('source warn');
    });
    expect(lines.map((l) => [l.op, l.msg])).toEqual([
      ['processor', 'processor debug'],
      ['results', 'results info'],
      ['source', 'source warn'],
    ]);
  });

  it('reads DURABATCH_LOG_LEVEL_<OPERATION> and ignores unknown levels', () => {
    expect(
      logLevelsFromEnv({ DURABATCH_LOG_LEVEL_PROCESSOR: 'DEBUG', DURABATCH_LOG_LEVEL_SOURCE: 'loud' }),
    ).toEqual({
      processor: 'debug',
    });
  });
});

describe('redaction', () => {
  it('redacts authorization headers, tokens, passwords, api keys and command env values', async () => {
    const [line] = await logLines((file) => {
      createLogger({ level: 'info', file, terminalLevel: 'silent', pretty: false }).info(
        {
          headers: { Authorization: 'Bearer a1', 'x-api-key': 'a2' },
          request: { headers: { authorization: 'a3', cookie: 'a4' } },
          token: 'a5',
          settings: { password: 'a6', apiKey: 'a7', keep: 'visible' },
          command: { env: { SECRET: 'a8' } },
        },
        'request',
      );
    });
    const text = JSON.stringify(line);
    for (const secret of ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8'])
      expect(text).not.toContain(`"${secret}"`);
    expect(text).toContain('visible');
  });
});

describe('secret masking', () => {
  it('tells secret names from ordinary ones', () => {
    for (const name of [
      'apiKey',
      'x-api-key',
      'Authorization',
      'password',
      'DB_PASSWD',
      'accessToken',
      'client_secret',
      'key',
    ]) {
      expect(isSecretName(name), name).toBe(true);
    }
    for (const name of ['metadataKey', 'idempotencyKey', 'idColumn', 'url', 'keyboard'])
      expect(isSecretName(name), name).toBe(false);
  });

  it('keeps ${env:NAME} references and masks literal secrets', () => {
    expect(maskSecretText('Bearer ${env:API_TOKEN}')).toBe('Bearer ${env:API_TOKEN}');
    expect(maskSecretText('${env:A}')).toBe('${env:A}');
    expect(maskSecretText('Bearer abc123')).toBe('****');
    expect(maskSecretText('k=${env:X}')).toBe('****${env:X}');
    expect(maskUrl('https://u:p@h/x?token=t&page=2')).toBe('https://u:****@h/x?token=****&page=2');
    expect(
      maskSecrets({
        http: { headers: { A: 'x' } },
        steps: [{ command: { env: { B: 'y' } } }],
        password: 'z',
        n: 1,
      }),
    ).toEqual({
      http: { headers: { A: '****' } },
      steps: [{ command: { env: { B: '****' } } }],
      password: '****',
      n: 1,
    });
  });
});

describe('masking for processor log lines', () => {
  it('masks secret-named headers, shows ${env:} templates instead of resolved values, keeps the rest', () => {
    const sent = {
      authorization: 'Bearer resolved-secret',
      'x-custom': 'resolved-too',
      'x-api-key': 'k1',
      'idempotency-key': 'b1:K1',
      'content-type': 'application/json',
    };
    const configured = { Authorization: 'Bearer ${env:API_TOKEN}', 'X-Custom': '${env:CUSTOM}' };
    expect(maskHeaders(sent, configured)).toEqual({
      authorization: 'Bearer ${env:API_TOKEN}',
      'x-custom': '${env:CUSTOM}',
      'x-api-key': '****',
      'idempotency-key': 'b1:K1',
      'content-type': 'application/json',
    });
    expect(
      maskHeaders([
        ['Set-Cookie', 'session=s1'],
        ['Location', '/a'],
      ]),
    ).toEqual({
      'set-cookie': '****',
      location: '/a',
    });
  });

  it('masks the values of secret-named flags in argv, in both spellings', () => {
    expect(
      maskArgv(['tool', '--token', 't1', '--password=p1', '-k', 'x', '--name', 'n', '--api-key=', 'file']),
    ).toEqual(['tool', '--token', '****', '--password=****', '-k', 'x', '--name', 'n', '--api-key=', 'file']);
  });

  it('cuts long texts saying so, and masks secret fields of JSON texts', () => {
    expect(loggedText('body', 'short')).toEqual({ body: 'short' });
    expect(loggedText('body', '{"user":"u","password":"p1"}')).toEqual({
      body: '{"user":"u","password":"****"}',
    });
    expect(loggedText('body', 'x'.repeat(10), 4)).toEqual({
      body: 'xxxx… [truncated: first 4 of 10 characters]',
      bodyTruncated: true,
      bodyChars: 10,
    });
  });
});

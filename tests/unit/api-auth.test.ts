// The service's callers: tokens kept hashed with scopes, refused in constant shape (401/403
// problems), and `durabatch serve` refusing to listen off loopback without tokens.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isLoopbackHost,
  newToken,
  parseTokenEntries,
  requireScope,
  sha256Hex,
  TokenTable,
} from '../../src/api/auth';
import { ApiProblem } from '../../src/api/problem';
import { InputError } from '../../src/errors';
import { runCli } from '../helpers/cli';

function problem(fn: () => unknown): ApiProblem {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiProblem) return err;
    throw err;
  }
  throw new Error('expected a problem');
}

describe('service tokens', () => {
  it('admits a token only by its hash, and names its owner', async () => {
    const { token, entry } = newToken('ingest-app', ['read', 'submit']);
    expect(entry).toBe(`ingest-app:read,submit:${sha256Hex(token)}`);
    expect(entry).not.toContain(token);
    const table = await TokenTable.load({ tokens: [entry] });
    const who = table.authenticate(`Bearer ${token}`);
    expect(who.name).toBe('ingest-app');
    expect([...who.scopes].sort()).toEqual(['read', 'submit']);
    expect(problem(() => table.authenticate(undefined)).status).toBe(401);
    expect(problem(() => table.authenticate(`Bearer ${token}x`)).status).toBe(401);
    expect(problem(() => table.authenticate(`Basic ${token}`)).status).toBe(401);
    const forbidden = problem(() => requireScope(who, 'operate'));
    expect(forbidden.status).toBe(403);
    expect(forbidden.message).toContain('"operate"');
  });

  it('reads a token file with comments, and names a bad entry by file and line', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tokens-'));
    const a = newToken('a', ['read']);
    const b = newToken('b', ['operate']);
    const file = path.join(dir, 'tokens');
    await writeFile(file, `# service tokens\n${a.entry}\n\n${b.entry} # ops\n`);
    const table = await TokenTable.load({ tokenFile: file });
    expect(table.authenticate(`Bearer ${b.token}`).name).toBe('b');
    await writeFile(file, `${a.entry}\nnot-an-entry\n`);
    await expect(TokenTable.load({ tokenFile: file })).rejects.toThrow(`token file ${file}, entry 2`);
    expect(() => parseTokenEntries([`x:admin:${'0'.repeat(64)}`], 'setting api.tokens')).toThrow(
      /unknown scope "admin"/,
    );
    expect(() => parseTokenEntries([a.entry, a.entry], 'setting api.tokens')).toThrow(InputError);
  });

  it('without tokens every local caller may do everything; loopback is recognised', async () => {
    const table = await TokenTable.load({});
    expect(table.enabled).toBe(false);
    expect(table.authenticate(undefined).scopes.size).toBe(3);
    for (const h of ['127.0.0.1', 'localhost', '::1', '[::1]', '127.1.2.3'])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', 'example.com']) expect(isLoopbackHost(h)).toBe(false);
  });

  it('serve refuses a non-loopback address without tokens (exit 2, a fix), before connecting anywhere', async () => {
    const res = await runCli(['serve', '--host', '0.0.0.0', '--port', '0'], {
      env: { TEMPORAL_ADDRESS: '127.0.0.1:1' },
      timeoutMs: 30_000,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('refusing to listen on 0.0.0.0 without tokens');
    expect(res.stderr).toContain('fix:');
  });

  it('serve --new-token prints a token once and the entry that admits it', async () => {
    const res = await runCli(['serve', '--new-token', 'report-runner', '--scopes', 'read,operate']);
    expect(res.code).toBe(0);
    const token = /token .*: (dbt_\S+)/.exec(res.stdout)?.[1];
    const entry = /entry .*: (\S+)/.exec(res.stdout)?.[1];
    expect(token).toBeDefined();
    expect(entry).toBe(`report-runner:read,operate:${sha256Hex(token!)}`);
    const bad = await runCli(['serve', '--new-token', 'x', '--scopes', 'read,root']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown scope "root"');
  });
});

// Users' regular expressions (`--where field~regex`, schema patterns) match in linear time: a
// pattern that makes a backtracking engine run for ever on one long value finishes at once, in
// staging (the CLI's, and the service's for every client) and in item validation.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Config } from '../../src/config/schema';
import { stageSource } from '../../src/source/stage';
import { readStagedPage } from '../../src/source/page-reader';
import { linearRegex } from '../../src/util/linear-regex';

// JavaScript's RegExp takes about 2^n steps for `^(a+)+$` on n "a"s and a "b": n = 5,000 never ends.
const EVIL = '^(a+)+$';
const LONG = `${'a'.repeat(5_000)}b`;

describe('linear-time regular expressions', () => {
  it('matches like RegExp.test, refuses look-around and back-references with a reason', () => {
    expect(linearRegex('abc').test('xxabcxx')).toBe(true);
    expect(linearRegex('^[A-Z]{3}$').test('ABC')).toBe(true);
    expect(linearRegex('^[A-Z]{3}$').test('ABCD')).toBe(false);
    expect(linearRegex('^é+$').test('éé')).toBe(true);
    expect(linearRegex(EVIL).test(LONG)).toBe(false);
    expect(() => linearRegex('(?<=a)b')).toThrow(/RE2 syntax: no look-around or back-references/);
    expect(() => linearRegex('(a)\\1')).toThrow(/RE2 syntax/);
    expect(() => linearRegex('([')).toThrow(/missing closing/);
  });

  it('stages a source through a hostile --where and schema pattern without freezing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'linear-regex-'));
    const csv = path.join(dir, 'rows.csv');
    await writeFile(csv, `id,name\nr1,${LONG}\nr2,aaaa\n`);
    const staged = await stageSource(csv, { home: dir, idColumn: 'id', select: { where: [`name~${EVIL}`] } });
    expect((await readStagedPage(staged, 0, 10)).map((i) => i.key)).toEqual(['r2']);
    const schema = Config.parse({ schema: { fields: { name: { pattern: EVIL } } } }).schema;
    const checked = await stageSource(csv, { home: dir, idColumn: 'id', schema });
    expect([checked.total, checked.invalid]).toEqual([2, 1]);
    expect(checked.problems[0]).toContain('does not match');
  });

  it('a schema pattern RE2 cannot run is a config error naming why', () => {
    const parsed = Config.safeParse({ schema: { fields: { x: { pattern: '(?=a)' } } } });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('RE2 syntax');
  });
});

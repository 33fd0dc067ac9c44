import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Config } from '../../src/config/schema';
import { InputError } from '../../src/errors';
import { KeyRegistry } from '../../src/source/keys';
import { readStagedPage } from '../../src/source/page-reader';
import { stageSource } from '../../src/source/stage';
import type { ItemSchemaSpec } from '../../src/source/validate';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sources-validation-'));
});

async function file(name: string, content: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, content);
  return p;
}

const schema: ItemSchemaSpec = {
  required: ['id', 'email'],
  fields: {
    email: { type: 'email' },
    age: { type: 'integer', min: 0, max: 150 },
    born: { type: 'date' },
    status: { enum: ['new', 'active'] },
    code: { pattern: '^[A-Z]{3}$' },
    vip: { type: 'boolean' },
  },
};

const csv = [
  'id,email,age,born,status,code,vip',
  '1,ann@example.com,42,1982-03-04,new,ABC,true',
  '2,bob@example,42,1982-03-04,new,ABC,false',
  '3,cy@example.com,4.5,1982-02-30,gone,abc,maybe',
  '4,,,,,,',
  '5,dee@example.com,,,,,',
].join('\n');

describe('item schema', () => {
  it('stages invalid rows as invalid items with line and field, valid ones untouched', async () => {
    const staged = await stageSource(await file('people.csv', csv), { home: dir, idColumn: 'id', schema });
    expect(staged.total).toBe(5);
    expect(staged.invalid).toBe(3);
    const items = await readStagedPage(staged, 0, 10);
    expect(items.map((i) => i.invalid)).toEqual([
      undefined,
      'line 3: field email: expected an email address, got "bob@example"',
      'line 4: field age: expected an integer, got "4.5"; line 4: field born: expected a date (YYYY-MM-DD or ISO 8601 date-time), got "1982-02-30"; ' +
        'line 4: field status: must be one of: new, active (got "gone"); line 4: field code: does not match /^[A-Z]{3}$/; line 4: field vip: expected true or false, got "maybe"',
      'line 5: field email: is required',
      undefined,
    ]);
    expect(items[1]!.data).toMatchObject({ id: '2', email: 'bob@example' });
  });

  it('--strict refuses the source, listing the problems with their lines (also when the staging is reused)', async () => {
    const src = await file('people-strict.csv', csv);
    for (let run = 0; run < 2; run++) {
      await stageSource(src, { home: dir, idColumn: 'id', schema }).catch(() => undefined);
      const err = await stageSource(src, { home: dir, idColumn: 'id', schema, strict: true }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      const message = (err as Error).message;
      expect(message).toMatch(/people-strict\.csv: 3 invalid rows:\n {2}line 3: field email/);
      expect(message).toMatch(/\n {2}line 5: field email: is required\n/);
      expect(message).toMatch(/run without --strict/);
    }
  });

  it('lists at most 20 problems in strict mode', async () => {
    const rows = Array.from({ length: 30 }, (_, i) => `${i},not-a-number`).join('\n');
    const err = await stageSource(await file('many-bad.csv', `id,n\n${rows}\n`), {
      home: dir,
      schema: { fields: { n: { type: 'number' } } },
      strict: true,
    }).catch((e: unknown) => e as Error);
    expect((err as Error).message).toMatch(/30 invalid rows \(the first 20\)/);
    expect((err as Error).message.match(/field n:/g)).toHaveLength(20);
  });

  it('JSON values keep their types; a row over 256 KB is staged as invalid without its data', async () => {
    const big = 'x'.repeat(300 * 1024);
    const src = await file(
      'typed.jsonl',
      `{"id":1,"n":1.5,"ok":true}\n{"id":2,"n":"7","ok":"false"}\n{"id":3,"blob":"${big}"}\n`,
    );
    const staged = await stageSource(src, {
      home: dir,
      idColumn: 'id',
      schema: { fields: { n: { type: 'number', max: 5 }, ok: { type: 'boolean' } } },
    });
    const items = await readStagedPage(staged, 0, 5);
    // The oversized line is refused unparsed, so its key is unknown: it gets one from its line.
    expect(items.map((i) => i.key)).toEqual(['1', '2', 'line-3']);
    expect(items[0]!.invalid).toBeUndefined();
    expect(items[1]!.invalid).toBe('line 2: field n: must be at most 5');
    expect(items[2]!.invalid).toMatch(/^line 3: row too large \(30\d KB > 256 KB\)$/);
    expect(items[2]!.data).toEqual({});

    const wide = await stageSource(await file('wide.csv', `id,note\na,short\nb,"${big}"\n`), {
      home: dir,
      idColumn: 'id',
    });
    const [, large] = await readStagedPage(wide, 0, 5);
    expect(large).toMatchObject({ key: 'b', line: 3, data: {} });
    expect(large!.invalid).toMatch(/^line 3: row too large \(30\d KB > 256 KB\)$/);
  });

  it('the config accepts the schema as an object or as JSON text, and rejects bad specs', () => {
    const parsed = Config.parse({
      schema: JSON.stringify({ required: ['id'] }),
      columns: '{"A":"a"}',
      strict: 'true',
    });
    expect(parsed.schema).toEqual({ required: ['id'] });
    expect(parsed.columns).toEqual({ A: 'a' });
    expect(parsed.strict).toBe(true);
    expect(Config.safeParse({ schema: { fields: { x: { type: 'uuid' } } } }).success).toBe(false);
    expect(Config.safeParse({ schema: { fields: { x: { pattern: '(' } } } }).success).toBe(false);
    expect(Config.safeParse({ columns: { a: 'x', b: 'x' } }).success).toBe(false);
    expect(Config.safeParse({ schema: '{nope' }).error?.issues[0]?.message).toMatch(/not valid JSON/);
  });
});

describe('key registry', () => {
  it('finds real duplicates among many keys from the staged file, and only those', async () => {
    const reg = new KeyRegistry();
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const key = i === 150_000 ? 'k42' : `k${i}`;
      reg.add(key);
      lines.push(JSON.stringify({ index: i, key, line: i + 2, data: {} }));
    }
    const items = await file('items.jsonl', lines.join('\n') + '\n');
    expect(await reg.duplicates(items)).toEqual({
      messages: ['key "k42" on line 150002 (first on line 44)'],
      total: 1,
    });
  });

  it('a hash collision between different keys is not a duplicate', async () => {
    const reg = new KeyRegistry((key) => key.length); // everything of one length collides
    const keys = ['aa', 'bb', 'cc', 'bb', 'dd'];
    keys.forEach((k) => reg.add(k));
    const items = await file(
      'collide.jsonl',
      keys.map((key, i) => JSON.stringify({ index: i, key, line: i + 1, data: {} })).join('\n') + '\n',
    );
    expect(await reg.duplicates(items)).toEqual({
      messages: ['key "bb" on line 4 (first on line 2)'],
      total: 1,
    });
  });
});

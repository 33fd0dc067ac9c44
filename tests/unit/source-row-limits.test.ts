// Depth and size limits on source rows: a 10,000-deep JSON value in a row is an invalid item naming
// its line and the limit (never a stack overflow while staging), in every JSON format; a CSV record
// too long to be a row refuses the source naming its line, before it is buffered whole.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { MAX_CSV_RECORD_CHARS } from '../../src/source/formats/csv';
import { readStagedPage } from '../../src/source/page-reader';
import { stageSource } from '../../src/source/stage';
import { MAX_ROW_DEPTH, nestingDepth } from '../../src/source/types';

const deepArray = (n: number): string => '['.repeat(n) + ']'.repeat(n);
const deepObject = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
const TOO_DEEP = `nested more than ${MAX_ROW_DEPTH} levels deep (objects and arrays within each other); flatten the row, or give the deep value as a JSON string`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'source-row-limits-'));
});

describe('row depth', () => {
  it('measures nesting without recursion, stopping past the limit', () => {
    expect(nestingDepth({ a: 1 })).toBe(1);
    expect(nestingDepth({ a: { b: [1, { c: 2 }] } })).toBe(4);
    expect(nestingDepth(JSON.parse(deepArray(100_000)))).toBe(MAX_ROW_DEPTH + 1);
  });

  it('stages a 10,000-deep JSONL row as an invalid item naming its line; the other rows stay', async () => {
    const file = path.join(dir, 'deep.jsonl');
    const ok = JSON.stringify({ id: 'edge', v: JSON.parse(deepObject(MAX_ROW_DEPTH - 1)) as unknown });
    await writeFile(
      file,
      `{"id":"a"}\n{"id":"b","x":${deepArray(10_000)}}\n{"id":"c","y":${deepObject(10_000)}}\n${ok}\n`,
    );
    const staged = await stageSource(file, { home: path.join(dir, 'home'), idColumn: 'id' });
    expect(staged).toMatchObject({ total: 4, invalid: 2 });
    expect(staged.problems).toEqual([`line 2: ${TOO_DEEP}`, `line 3: ${TOO_DEEP}`]);
    const items = await readStagedPage(staged, 0, 10);
    // Invalid rows keep no data (their key is their line); a row just under the limit is kept whole.
    expect(items.map((i) => [i.key, i.invalid === undefined])).toEqual([
      ['a', true],
      ['line-2', false],
      ['line-3', false],
      ['edge', true],
    ]);
    expect(items[1]!.data).toEqual({});
    expect(nestingDepth(items[3]!.data)).toBe(MAX_ROW_DEPTH);
  });

  it('does the same for an element of a JSON array, and refuses the source with --strict', async () => {
    const file = path.join(dir, 'deep.json');
    await writeFile(file, `[\n{"id":1},\n{"id":2,"x":${deepArray(10_000)}},\n{"id":3}\n]\n`);
    const staged = await stageSource(file, { home: path.join(dir, 'home'), idColumn: 'id' });
    expect(staged).toMatchObject({ total: 3, invalid: 1, problems: [`line 3: ${TOO_DEEP}`] });
    const err = await stageSource(file, { home: path.join(dir, 'home'), idColumn: 'id', strict: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain(`${file}: 1 invalid row`);
    expect((err as Error).message).toContain(`line 3: ${TOO_DEEP}`);
  });

  it('ignores a too-deep entry of a keyed JSON metadata file with a warning naming it', async () => {
    const docs = path.join(dir, 'docs');
    await mkdir(docs, { recursive: true });
    await writeFile(path.join(docs, 'a.pdf'), 'A');
    await writeFile(path.join(docs, 'b.pdf'), 'B');
    const meta = path.join(dir, 'meta.json');
    await writeFile(meta, `{\n"a.pdf": {"p": "P1"},\n"b.pdf": {"deep": ${deepArray(10_000)}}\n}\n`);
    const staged = await stageSource(docs, { home: path.join(dir, 'home'), metadata: meta });
    expect(staged.total).toBe(2);
    expect(staged.warnings).toEqual([`metadata ${meta}: entry "b.pdf" (line 3): ${TOO_DEEP}; row ignored`]);
    const items = await readStagedPage(staged, 0, 10);
    expect(items.map((i) => i.data.p ?? null)).toEqual(['P1', null]);
  });
});

describe('row size', () => {
  it('refuses a CSV whose record outgrows the buffer limit, naming the line where it starts', async () => {
    const file = path.join(dir, 'unclosed.csv');
    await writeFile(file, `id,v\n1,a\n2,"${'x'.repeat(MAX_CSV_RECORD_CHARS + 10)}\n3,b\n`);
    const err = await stageSource(file, { home: path.join(dir, 'home'), idColumn: 'id' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe(
      `${file}: line 3: a record longer than 8 M characters (rows are at most 256 KB); most likely a quote opened there is never closed` +
        '\n  fix: close the quote (quotes inside a quoted field are doubled), or split the row',
    );
  });
});

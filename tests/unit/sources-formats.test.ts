import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { readStagedPage } from '../../src/source/page-reader';
import { readSource } from '../../src/source/read-source';
import { stageSource } from '../../src/source/stage';
import { rejection } from '../helpers/rejection';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sources-formats-'));
});

async function file(name: string, content: string | Buffer): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, content);
  return p;
}

const failure = (p: Promise<unknown>) => rejection(p, InputError);

describe('JSONL', () => {
  it('stages objects, skips blank lines, and turns a bad line into an invalid item naming its line', async () => {
    const src = await file(
      'a.jsonl',
      '{"id":"a","n":1}\n\n{"id":"b","n":2}\n{"id": oops}\n[1,2]\n{"id":"c","n":3}\n',
    );
    const staged = await stageSource(src, { home: dir, idColumn: 'id' });
    expect(staged.total).toBe(5);
    expect(staged.invalid).toBe(2);
    const items = await readStagedPage(staged, 0, 10);
    expect(items.map((i) => [i.key, i.line])).toEqual([
      ['a', 1],
      ['b', 3],
      ['line-4', 4],
      ['line-5', 5],
      ['c', 6],
    ]);
    expect(items[2]!.invalid).toMatch(/^line 4: invalid JSON/);
    expect(items[3]!.invalid).toBe('line 5: expected a JSON object, got an array');
    expect(items[4]!.data).toEqual({ id: 'c', n: 3 });
    expect(items[0]!.invalid).toBeUndefined();
  });

  it('reports duplicate keys with both line numbers', async () => {
    const src = await file('dup.jsonl', '{"id":"x"}\n{"id":"y"}\n\n{"id":"x"}\n{"id":7}\n{"id":"7"}\n');
    const err = await failure(stageSource(src, { home: dir, idColumn: 'id' }));
    expect(err.message).toMatch(/key "x" on line 4 \(first on line 1\)/);
    expect(err.message).toMatch(/key "7" on line 6 \(first on line 5\)/);
  });
});

describe('JSON array', () => {
  it('streams elements with their lines; strings with brackets and escapes do not confuse it', async () => {
    const text = [
      '\uFEFF[',
      '  {"id": "a", "note": "has ] and , and \\" inside", "nested": {"x": [1, {"y": 2}]}},',
      '  {"id": "b",',
      '   "n": 2},',
      '  42,',
      '  {"id": "c", "bad": tru},',
      '  {"id": "d"}',
      ']',
      '',
    ].join('\n');
    const src = await file('arr.json', text);
    const staged = await stageSource(src, { home: dir });
    expect(staged.total).toBe(5);
    const items = await readStagedPage(staged, 0, 10);
    expect(items.map((i) => i.line)).toEqual([2, 3, 5, 6, 7]);
    expect(items[0]!.data).toEqual({
      id: 'a',
      note: 'has ] and , and " inside',
      nested: { x: [1, { y: 2 }] },
    });
    expect(items[1]!.data).toEqual({ id: 'b', n: 2 });
    expect(items[2]!.invalid).toBe('line 5: expected a JSON object, got a number');
    expect(items[3]!.invalid).toMatch(/^line 6: invalid JSON/);
    expect(items.map((i) => i.key)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('keeps elements and lines exact across read chunks', async () => {
    const elements = Array.from({ length: 5_000 }, (_, i) =>
      i % 3 === 0 ? `{\n  "id": "k${i}",\n  "s": "${'é,]'.repeat(i % 40)}"\n}` : `{"id": "k${i}"}`,
    );
    const staged = await stageSource(await file('big.json', `[\n${elements.join(',\n')}\n]\n`), {
      home: dir,
      idColumn: 'id',
    });
    const items = await readStagedPage(staged, 0, 5_000);
    let line = 2;
    const expected = elements.map((e) => {
      const at = line;
      line += e.split('\n').length;
      return at;
    });
    expect(items.map((i) => i.line)).toEqual(expected);
    expect(items[2_997]!.data).toEqual({ id: 'k2997', s: 'é,]'.repeat(2_997 % 40) });
    expect(items.every((i) => i.invalid === undefined)).toBe(true);
  });

  it('refuses a file that is not an array, or is cut short, naming the file and line', async () => {
    const obj = await file('obj.json', '\n{"id": 1}\n');
    expect((await failure(stageSource(obj, { home: dir }))).message).toMatch(
      /obj\.json: line 2: expected a JSON array of objects, found an object.*jsonl/s,
    );
    const cut = await file('cut.json', '[\n{"id": 1},\n{"id": 2\n');
    expect((await failure(stageSource(cut, { home: dir }))).message).toMatch(
      /cut\.json: .*ends before the array is closed \(the element starting on line 3/,
    );
    const empty = await file('empty.json', '[ ]');
    expect((await failure(stageSource(empty, { home: dir }))).message).toMatch(/empty\.json has no items/);
  });
});

describe('XLSX', () => {
  it('reads the sheet chosen by name; the line is the spreadsheet row', async () => {
    const wb = new ExcelJS.Workbook();
    const first = wb.addWorksheet('Summary');
    first.addRow(['not', 'these']);
    first.addRow([1, 2]);
    const sheet = wb.addWorksheet('Patients');
    sheet.addRow(['Patient ID', 'name', 'born', 'visits', 'active']);
    for (let i = 1; i <= 300; i++)
      sheet.addRow([
        `P${i}`,
        { richText: [{ text: 'Name ' }, { text: String(i) }] },
        new Date(Date.UTC(1980, 0, i)),
        i,
        i % 2 === 0,
      ]);
    sheet.addRow([]);
    sheet.addRow(['P301', { formula: '1+1', result: 'two' }, '', 301, false]);
    const src = path.join(dir, 'book.xlsx');
    await wb.xlsx.writeFile(src);

    const staged = await stageSource(src, {
      home: dir,
      sheet: 'Patients',
      columns: { 'Patient ID': 'patient_id' },
      idColumn: 'patient_id',
    });
    expect(staged.total).toBe(301);
    const [firstItem] = await readStagedPage(staged, 0, 1);
    expect(firstItem).toMatchObject({
      key: 'P1',
      line: 2,
      data: { patient_id: 'P1', name: 'Name 1', born: '1980-01-01', visits: 1, active: false },
    });
    const [last] = await readStagedPage(staged, 300, 1);
    expect(last).toMatchObject({ key: 'P301', line: 303, data: { name: 'two', born: '', visits: 301 } });

    const summary = await stageSource(src, { home: dir });
    expect((await readStagedPage(summary, 0, 5)).map((i) => i.data)).toEqual([{ not: 1, these: 2 }]);
    expect((await failure(stageSource(src, { home: dir, sheet: 'Nope' }))).message).toMatch(
      /no sheet named "Nope".*use one of: Summary, Patients/s,
    );
  });

  it('refuses an .xlsx that is not a workbook, naming the file', async () => {
    const src = await file('fake.xlsx', 'id,name\n1,a\n');
    expect((await failure(stageSource(src, { home: dir }))).message).toMatch(
      /fake\.xlsx is not a readable XLSX workbook/,
    );
  });
});

describe('CSV line numbers', () => {
  it('stay exact across read chunks, with multi-line fields and blank CRLF lines', async () => {
    const parts = ['id,note\r\n'];
    const expected: number[] = [];
    let line = 2;
    for (let i = 0; i < 20_000; i++) {
      expected.push(line);
      const multi = i % 7 === 0;
      parts.push(multi ? `k${i},"two\r\nlines ${'x'.repeat(i % 50)}"\r\n` : `k${i},plain ${i}\r\n`);
      line += multi ? 2 : 1;
      if (i % 11 === 0) {
        parts.push('\r\n');
        line += 1;
      }
    }
    const staged = await stageSource(await file('lines.csv', parts.join('')), { home: dir, idColumn: 'id' });
    const items = await readStagedPage(staged, 0, 20_000);
    expect(items.map((i) => i.line)).toEqual(expected);
  });
});

describe('column mapping and format detection', () => {
  it('renames CSV columns before keys and data are taken', async () => {
    const src = await file('mapped.csv', 'Patient ID,Full Name\nP1,Ann\nP2,Bob\n');
    const staged = await stageSource(src, {
      home: dir,
      columns: { 'Patient ID': 'patient_id', 'Full Name': 'name' },
      idColumn: 'patient_id',
    });
    expect((await readStagedPage(staged, 0, 5)).map((i) => [i.key, i.data])).toEqual([
      ['P1', { patient_id: 'P1', name: 'Ann' }],
      ['P2', { patient_id: 'P2', name: 'Bob' }],
    ]);
    expect(
      (await failure(stageSource(src, { home: dir, columns: { PatientID: 'patient_id' } }))).message,
    ).toMatch(/renames "PatientID", not in the header.*Patient ID, Full Name/s);
  });

  it('reads JSONL through readSource with a mapping, and an explicit format overrides the extension', async () => {
    const src = await file('records.txt', '{"A":1,"b":2}\n');
    const records = [];
    for await (const r of readSource(src, { format: 'jsonl', columns: { A: 'a' } })) records.push(r);
    expect(records).toEqual([{ line: 1, data: { a: 1, b: 2 } }]);
  });

  it('turns a CSV row with the wrong number of fields into an invalid item', async () => {
    const staged = await stageSource(await file('ragged.csv', 'id,v\na,1\nb\nc,3\n'), {
      home: dir,
      idColumn: 'id',
    });
    const items = await readStagedPage(staged, 0, 5);
    expect(items[1]!.invalid).toBe('line 3: has 1 fields, the header has 2');
  });

  it('names the file for unknown extensions, missing files, unreadable files and directories given as files', async () => {
    expect((await failure(stageSource(await file('data.parquet', 'x'), { home: dir }))).message).toMatch(
      /data\.parquet.*--format/s,
    );
    expect((await failure(stageSource(path.join(dir, 'missing.csv'), { home: dir }))).message).toMatch(
      /cannot read source .*missing\.csv: ENOENT/,
    );
    expect((await failure(stageSource(dir, { home: dir, format: 'csv' }))).message).toMatch(
      /is a directory, not a csv file/,
    );
    expect((await failure(stageSource(await file('empty.jsonl', '\n\n'), { home: dir }))).message).toMatch(
      /empty\.jsonl has no items/,
    );
  });

  it.skipIf(process.getuid?.() === 0)('names an unreadable file', async () => {
    const src = await file('secret.csv', 'id\n1\n');
    await chmod(src, 0o000);
    expect((await failure(stageSource(src, { home: dir }))).message).toMatch(
      /cannot read source .*secret\.csv: EACCES/,
    );
  });
});

// Reading a source never holds more than a row's limit of one row: a 64 MB JSONL line with no
// newline is one line's error (naming the line and the limit) with memory flat, and a JSON array
// element of millions of `[` is refused naming its position, its bracket stack capped.
import { createWriteStream } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import ExcelJS from 'exceljs';
import { readJsonArray } from '../../src/source/formats/json-array';
import { MAX_SHARED_STRINGS_BYTES, readXlsx } from '../../src/source/formats/xlsx';
import { LineSplitter, readJsonl } from '../../src/source/formats/jsonl';
import { MAX_ROW_BYTES, MAX_ROW_DEPTH, type SourceRecord } from '../../src/source/types';
import { rejection } from '../helpers/rejection';

const MB = 1024 * 1024;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'source-read-bounds-'));
});

/** Writes `head`, then `size` bytes of `fill` in 1 MB chunks, then `tail`. */
async function writeBig(file: string, head: string, fill: string, size: number, tail: string): Promise<void> {
  const out = createWriteStream(file);
  out.write(head);
  const chunk = Buffer.alloc(MB, fill);
  for (let written = 0; written < size; written += MB) {
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', () => r(undefined)));
  }
  out.end(tail);
  await finished(out);
}

/** Reads every record, sampling the process's RSS: returns the records and the peak growth. */
async function readSampled(
  records: AsyncIterable<SourceRecord>,
): Promise<{ got: SourceRecord[]; grew: number }> {
  global.gc?.();
  const before = process.memoryUsage.rss();
  let peak = before;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  const got: SourceRecord[] = [];
  try {
    for await (const r of records) {
      peak = Math.max(peak, process.memoryUsage.rss());
      got.push(r);
    }
  } finally {
    clearInterval(sample);
  }
  return { got, grew: Math.max(peak, process.memoryUsage.rss()) - before };
}

describe('JSONL lines', () => {
  it("a 64 MB line without a newline is that line's error, read with flat memory; the next line stays", async () => {
    const file = path.join(dir, 'long-line.jsonl');
    await writeBig(file, '{"id":"a"}\n{"id":"b","x":"', 'x', 64 * MB, '"}\n{"id":"c"}');
    const { got, grew } = await readSampled(readJsonl(file));
    expect(got).toEqual([
      { line: 1, data: { id: 'a' } },
      {
        line: 2,
        data: {},
        error: `line 2: row too large (${64 * 1024 + 1} KB > ${MAX_ROW_BYTES / 1024} KB)`,
      },
      { line: 3, data: { id: 'c' } },
    ]);
    // readline held the whole line as one string: about 160 MB of growth; now about 25 MB of chunks.
    expect(grew).toBeLessThan(48 * MB);
  });

  it('splits lines on \\n, \\r\\n and a lone \\r across chunk edges, keeping their numbers', () => {
    const s = new LineSplitter(5);
    const lines = [...s.push(Buffer.from('ab\r')), ...s.push(Buffer.from('\ncd\rtoolong\n\n')), s.finish()];
    expect(lines).toEqual([
      { line: 1, text: 'ab', bytes: 2 },
      { line: 2, text: 'cd', bytes: 2 },
      { line: 3, bytes: 7 },
      { line: 4, text: '', bytes: 0 },
      undefined,
    ]);
    const bom = path.join(dir, 'bom.jsonl');
    return writeFile(bom, '\uFEFF{"id":1}\r\n\r\n{"id":2}').then(async () => {
      const got: SourceRecord[] = [];
      for await (const r of readJsonl(bom)) got.push(r);
      expect(got).toEqual([
        { line: 1, data: { id: 1 } },
        { line: 3, data: { id: 2 } },
      ]);
    });
  });
});

describe('JSON array elements', () => {
  it('an element nested millions deep is refused naming its line, with a capped bracket stack', async () => {
    const file = path.join(dir, 'deep.json');
    await writeBig(file, '[{"id":1},\n{"id":2,"x":', '[', 32 * MB, `${']'.repeat(1000)}`);
    const err = await rejection(readSampled(readJsonArray(file)), InputError);
    expect(err.message).toContain(
      `${file}: line 2: the file ends before the array is closed (the element starting on line 2 is not closed; ` +
        `it is nested more than ${MAX_ROW_DEPTH} levels deep from line 2, ${32 * MB + 1 - 1000} brackets still open)`,
    );
  });

  it("a deep element that closes is that element's error; the others stay, and memory stays flat", async () => {
    const file = path.join(dir, 'deep-closed.json');
    const depth = 8 * MB;
    const out = createWriteStream(file);
    out.write('[{"id":1},\n{"id":2,\n"x":');
    for (const b of ['[', ']']) {
      const chunk = Buffer.alloc(MB, b);
      for (let n = 0; n < depth; n += MB)
        if (!out.write(chunk)) await new Promise((r) => out.once('drain', () => r(undefined)));
    }
    out.end('},\n{"id":3}]\n');
    await finished(out);
    const { got, grew } = await readSampled(readJsonArray(file));
    expect(got.map((r) => r.error ?? r.data)).toEqual([
      { id: 1 },
      `line 2: nested more than ${MAX_ROW_DEPTH} levels deep (objects and arrays within each other); ` +
        'flatten the row, or give the deep value as a JSON string (from line 3)',
      { id: 3 },
    ]);
    // The stack held one number per open bracket: 8 M of them.
    expect(grew).toBeLessThan(48 * MB);
  });
});

describe('XLSX shared strings', () => {
  it('refuses a workbook whose shared strings inflate past the cap, naming the file and the cap', async () => {
    const wb = new ExcelJS.Workbook();
    const sheet = wb.addWorksheet('Rows');
    sheet.addRow(['id', 'text']);
    // Highly compressible, as a zip bomb is: 3 MB of strings in a small file.
    for (let i = 0; i < 3_000; i++) sheet.addRow([i, `${i}-${'x'.repeat(1_000)}`]);
    const file = path.join(dir, 'strings.xlsx');
    await wb.xlsx.writeFile(file);
    const read = async (max?: number) => {
      const got: SourceRecord[] = [];
      for await (const r of readXlsx(file, { maxSharedStringsBytes: max })) got.push(r);
      return got;
    };
    const err = await rejection(read(MB), InputError);
    expect(err.message).toContain(
      `${file}: its shared strings (xl/sharedStrings.xml) inflate to more than 1 MB; the workbook is not read`,
    );
    // Under the default cap the same workbook reads whole.
    expect(MAX_SHARED_STRINGS_BYTES).toBe(256 * MB);
    const rows = await read();
    expect(rows).toHaveLength(3_000);
    expect(rows[2_999]).toMatchObject({ line: 3_001, data: { id: 2_999 } });
  });
});

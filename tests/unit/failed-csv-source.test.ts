// failed.csv fed back as a source (`durabatch start failed.csv`, the hint retry-failed gives): the
// leading `'` that neutralised formula-like cells must not become item data (`'+1 555-0100` sent as a
// phone number); any other CSV keeps its cells exactly.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvLine, neutraliseFormula } from '../../activities/results/csv-cells';
import { readCsv } from '../../src/source/formats/csv';
import { restoreFormula } from '../../src/util/csv-formulas';

const VALUES = [
  '+1 555-0100',
  '@handle',
  '=HYPERLINK("http://evil","x")',
  '-',
  '-5',
  '+3.25',
  "'quoted",
  "'",
  "'=already quoted formula",
  "''+two quotes",
  '\t=1',
  'plain',
  '',
];

async function readAll(file: string) {
  const rows: Record<string, unknown>[] = [];
  for await (const r of readCsv(file)) rows.push(r.data);
  return rows;
}

describe('restoreFormula', () => {
  it.each(VALUES)('undoes neutraliseFormula exactly for %j', (v) => {
    expect(restoreFormula(neutraliseFormula(v))).toBe(v);
  });

  it('leaves a cell the neutralisation cannot have written as it is', () => {
    expect(restoreFormula("'quoted")).toBe("'quoted");
    expect(restoreFormula("'-5")).toBe("'-5");
  });
});

describe('a failed.csv read as a CSV source', () => {
  it('gets back the rows as they were, not their neutralising quotes', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'failed-csv-'));
    const file = path.join(dir, 'failed.csv');
    // As report.ts writes it: the source's columns (one named like a formula), then the error columns.
    const lines = [csvLine(['id', 'phone', '-note', '_error_type', '_error_message', '_attempts'])];
    VALUES.forEach((v, i) =>
      lines.push(csvLine([`k${i}`, v, v, 'PermanentTargetError', '=answered 400', '1'])),
    );
    await writeFile(file, lines.join(''));
    expect(lines[1]).toContain("'+1 555-0100");
    const rows = await readAll(file);
    expect(rows).toEqual(
      VALUES.map((v, i) => ({
        id: `k${i}`,
        phone: v,
        '-note': v,
        _error_type: 'PermanentTargetError',
        _error_message: '=answered 400',
        _attempts: '1',
      })),
    );
  });

  it('any other CSV keeps a leading quote as data', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'failed-csv-'));
    const file = path.join(dir, 'contacts.csv');
    await writeFile(file, "id,phone\nk1,'+1 555-0100\nk2,'@handle\n");
    expect(await readAll(file)).toEqual([
      { id: 'k1', phone: "'+1 555-0100" },
      { id: 'k2', phone: "'@handle" },
    ]);
  });
});

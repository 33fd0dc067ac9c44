// Item selection while staging: exactly the chosen rows become items; the rest are not items at all.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readStagedPage } from '../../src/source/page-reader';
import { stageSource, type StageOptions } from '../../src/source/stage';

let home: string;
let csv: string;
beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'select-test-'));
  csv = path.join(home, 'leads.csv');
  // Rows 2..21 as a spreadsheet numbers them: L01..L20, score 1..20, country FR for even scores.
  const rows = Array.from({ length: 20 }, (_, i) => {
    const n = i + 1;
    return `L${String(n).padStart(2, '0')},${n},${n % 2 === 0 ? 'FR' : 'DE'},lead${n}@example.com`;
  });
  await writeFile(csv, `id,score,country,email\n${rows.join('\n')}\n`);
});

async function keysOf(select: StageOptions['select']) {
  const staged = await stageSource(csv, { home, idColumn: 'id', select });
  const items = await readStagedPage(staged, 0, 100);
  expect(items.map((i) => i.index)).toEqual(items.map((_, n) => n)); // renumbered from 0
  return { keys: items.map((i) => i.key), staged };
}

describe('selection', () => {
  it('--rows: spreadsheet row numbers (header is row 1), ranges and open ends', async () => {
    expect((await keysOf({ rows: '2-4' })).keys).toEqual(['L01', 'L02', 'L03']);
    expect((await keysOf({ rows: '3,5,20-' })).keys).toEqual(['L02', 'L04', 'L19', 'L20']);
    const { keys, staged } = await keysOf({ rows: '-3' });
    expect(keys).toEqual(['L01', 'L02']);
    expect(staged.selection).toEqual({ description: 'rows -3', read: 20, stoppedAtLimit: false });
  });

  it('--where: all conditions hold; numbers compare as numbers; ~ is a regex', async () => {
    expect((await keysOf({ where: ['country=FR', 'score>=15'] })).keys).toEqual(['L16', 'L18', 'L20']);
    expect((await keysOf({ where: ['score<=3', 'country!=FR'] })).keys).toEqual(['L01', 'L03']);
    expect((await keysOf({ where: ['email~^lead1[0-2]@'] })).keys).toEqual(['L10', 'L11', 'L12']);
  });

  it('--keys from a list or a file; keys not found are a warning', async () => {
    expect((await keysOf({ keys: 'L07,L03' })).keys).toEqual(['L03', 'L07']);
    const file = path.join(home, 'keys.txt');
    await writeFile(file, 'L20\r\n\r\nL99\nL01\n');
    const { keys, staged } = await keysOf({ keys: file });
    expect(keys).toEqual(['L01', 'L20']);
    expect(staged.warnings).toEqual(['--keys: 1 key not among the selected rows: L99']);
  });

  it('--limit takes the first rows selected and stops reading', async () => {
    const { keys, staged } = await keysOf({ where: ['country=DE'], limit: 3 });
    expect(keys).toEqual(['L01', 'L03', 'L05']);
    expect(staged.total).toBe(3);
    expect(staged.selection).toMatchObject({ read: 5, stoppedAtLimit: true });
  });

  it('a selection is part of the staged identity: another selection stages anew', async () => {
    const a = await stageSource(csv, { home, idColumn: 'id', select: { rows: '2-3' } });
    const b = await stageSource(csv, { home, idColumn: 'id', select: { rows: '2-5' } });
    const all = await stageSource(csv, { home, idColumn: 'id' });
    expect(new Set([a.fingerprint, b.fingerprint, all.fingerprint]).size).toBe(3);
    expect([a.total, b.total, all.total]).toEqual([2, 4, 20]);
  });

  it('refuses a selection that matches nothing, and a malformed one, saying what to write', async () => {
    await expect(keysOf({ where: ['country=US'] })).rejects.toThrow(
      /the selection \(where country=US\) matches none of the 20 rows of .*leads\.csv/,
    );
    await expect(keysOf({ rows: '5-2' })).rejects.toThrow('--rows "5-2": 5-2 runs backwards');
    await expect(keysOf({ rows: 'ten' })).rejects.toThrow(/"ten" is not a row or a range.*--rows 10-200/s);
    await expect(keysOf({ where: ['score'] })).rejects.toThrow(
      /--where "score" is not a condition.*field=value/s,
    );
    await expect(keysOf({ where: ['email~(['] })).rejects.toThrow(/not a valid regular expression/);
  });
});

// The results workbook without a server: a results workbook fed back as a source gets its outcome
// columns filled in place, outputs that are not JSON objects land in `durabatch_output`, and the
// outcomes are found whatever order items.jsonl holds them in.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { OUTCOME_COLUMNS, writeResultsWorkbook } from '../../activities/results/workbook';
import { stageSource } from '../../src/source/stage';
import type { ItemOutcome } from '../../workflows/types';

const outcome = (index: number, extra: Partial<ItemOutcome>): ItemOutcome => ({
  index,
  key: `K${index}`,
  status: 'succeeded',
  attempts: 1,
  latencyMs: 5,
  startedAt: '2026-11-27T00:00:00.000Z',
  endedAt: '2026-11-27T00:00:01.000Z',
  ...extra,
});

describe('results workbook', () => {
  it('fills the outcome columns of a fed-back workbook in place and keeps non-object outputs whole', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'results-workbook-'));
    const source = path.join(dir, 'fixed.xlsx');
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Fixed');
    ws.addRow(['id', 'amount', ...OUTCOME_COLUMNS]);
    for (let i = 0; i < 4; i++) ws.addRow([`K${i}`, i * 1.5, 'failed', 3, 'Old: error']);
    await wb.xlsx.writeFile(source);
    const staged = await stageSource(source, { home: path.join(dir, 'home'), idColumn: 'id' });

    // Out of item order, as items finish; K3 has no outcome at all.
    const outcomes = [
      outcome(2, { output: 'converted 3 pages' }),
      outcome(0, { output: '{"n": 7, "tags": ["a"], "ok": false}' }),
      outcome(1, { status: 'failed', attempts: 2, errorType: 'E', errorMessage: 'broke' }),
    ];
    const outcomesFile = path.join(dir, 'items.jsonl');
    await writeFile(outcomesFile, outcomes.map((o) => JSON.stringify(o) + '\n').join(''));
    const { file } = await writeResultsWorkbook({
      dir,
      stagedDir: staged.dir,
      total: staged.total,
      columns: ['id', 'amount', ...OUTCOME_COLUMNS],
      outcomesFile,
    });

    const out = new ExcelJS.Workbook();
    await out.xlsx.readFile(file);
    expect(out.worksheets.map((w) => w.name)).toEqual(['Fixed']);
    const rows = [1, 2, 3, 4, 5].map((r) => out.worksheets[0]!.getRow(r).values);
    expect(rows).toEqual([
      [
        undefined,
        'id',
        'amount',
        ...OUTCOME_COLUMNS,
        'durabatch_output.n',
        'durabatch_output.tags',
        'durabatch_output.ok',
        'durabatch_output',
      ],
      [undefined, 'K0', 0, 'succeeded', 1, undefined, 7, '["a"]', false],
      [undefined, 'K1', 1.5, 'failed', 2, 'E: broke'],
      [undefined, 'K2', 3, 'succeeded', 1, undefined, undefined, undefined, undefined, 'converted 3 pages'],
      [undefined, 'K3', 4.5, 'unknown', undefined, 'NoOutcome: no outcome was recorded for this item'],
    ]);
  });
});

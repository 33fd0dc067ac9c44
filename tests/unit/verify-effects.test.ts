// The effects half of the invariant checker: reading a target's ledger in its accepted forms, and
// finding duplicates, missing effects and effects of items that were never sent.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkEffects, loadEffects, parseEffects } from '../../src/verify/effects';
import type { ItemOutcome, ItemStatus } from '../../workflows/types';

const outcome = (key: string, status: ItemStatus): ItemOutcome => ({
  index: 0,
  key,
  status,
  attempts: 1,
  latencyMs: 1,
  startedAt: '2026-01-01T00:00:00Z',
  endedAt: '2026-01-01T00:00:01Z',
});

describe('effects ledger', () => {
  it('reads the target JSON, arrays, JSON lines and plain key lines', () => {
    const records = [{ idempotencyKey: 'b:K1', effects: 1 }];
    expect(parseEffects(JSON.stringify({ records }), 'x')).toEqual(records);
    expect(parseEffects(JSON.stringify(['b:K1', 'b:K1']), 'x')).toEqual([
      { idempotencyKey: 'b:K1', effects: 1 },
      { idempotencyKey: 'b:K1', effects: 1 },
    ]);
    expect(parseEffects('{"key":"b:K1","effects":2}\n\n{"idempotencyKey":"b:K2"}\n', 'x')).toEqual([
      { idempotencyKey: 'b:K1', effects: 2 },
      { idempotencyKey: 'b:K2', effects: 1 },
    ]);
    expect(parseEffects('b:K1\nb:K2\n', 'x')).toHaveLength(2);
  });

  it('names the file and line of a bad record', async () => {
    expect(() => parseEffects('b:K1\n{oops\n', 'ledger.jsonl')).toThrow(
      'ledger.jsonl line 2 is not valid JSON',
    );
    expect(() => parseEffects('[{"effects":1}]', 'ledger.json')).toThrow(
      'ledger.json record 1 has no "idempotencyKey"',
    );
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ledger-'));
    await expect(loadEffects(path.join(dir, 'none.json'))).rejects.toThrow(
      /cannot read the effects ledger .*none\.json/,
    );
    await writeFile(path.join(dir, 'l.txt'), 'b:K1\n');
    expect(await loadEffects(path.join(dir, 'l.txt'))).toEqual([{ idempotencyKey: 'b:K1', effects: 1 }]);
  });

  it('finds duplicated, missing and unexpected effects, and ignores other batches', () => {
    const outcomes = [
      outcome('K1', 'succeeded'),
      outcome('K2', 'succeeded'),
      outcome('K3', 'skipped'),
      outcome('K4', 'failed'),
      outcome('a:b', 'succeeded'), // keys may hold colons
    ];
    const ledger = [
      { idempotencyKey: 'b:K1', effects: 2 },
      { idempotencyKey: 'b:K3', effects: 1 },
      { idempotencyKey: 'b:K4', effects: 1 },
      { idempotencyKey: 'b:a:b', effects: 1 },
      { idempotencyKey: 'b:K9', effects: 1 },
      { idempotencyKey: 'other:K2', effects: 1 },
    ];
    expect(checkEffects('b', outcomes, ledger, [])).toEqual({
      total: 5,
      duplicated: ['K1 ×2'],
      missing: ['K2'],
      unexpected: ['K3'],
      effectWithoutSuccess: ['K4'],
      unknownKeys: ['b:K9'],
    });
  });

  it('counts pipeline steps separately: one effect per step is not a duplicate', () => {
    const ledger = [
      { idempotencyKey: 'b:K1:register', effects: 1 },
      { idempotencyKey: 'b:K1:notify', effects: 1 },
      { idempotencyKey: 'b:K2:register', effects: 1 },
      { idempotencyKey: 'b:K2:register', effects: 1 },
    ];
    const check = checkEffects('b', [outcome('K1', 'succeeded'), outcome('K2', 'succeeded')], ledger, [
      'register',
      'notify',
    ]);
    expect(check).toMatchObject({ total: 4, duplicated: ['K2:register ×2'], missing: [] });
  });
});

import { describe, expect, it } from 'vitest';
import { excerpt } from '../../activities/processors/context';
import { progressLine } from '../../src/cli/progress-view';
import type { BatchProgress } from '../../workflows/types';

describe('excerpt', () => {
  it('keeps short text whole', () => {
    expect(excerpt('HTTP 422 bad field', 40)).toBe('HTTP 422 bad field');
  });

  it('ends at a word boundary near the limit, never mid-word', () => {
    const text = 'the field birthDate must be a date in ISO format such as 1990-04-01';
    expect(excerpt(text, 40)).toBe('the field birthDate must be a date in…');
  });

  it('cuts a long word when no boundary is near the limit', () => {
    expect(excerpt(`id ${'x'.repeat(50)}`, 20)).toBe(`id ${'x'.repeat(17)}…`);
  });
});

describe('progressLine', () => {
  const base = {
    batchId: 'b',
    total: 10,
    succeeded: 4,
    failed: 0,
    skipped: 0,
    cancelled: 0,
    running: 0,
    pending: 6,
    percent: 40,
    throughputPerMinute: 12,
    etaSeconds: 30,
  } as BatchProgress;

  it('shows an ETA while running', () => {
    expect(progressLine({ ...base, status: 'running' })).toMatch(/12\/min eta 30s$/);
  });

  it('shows none while paused', () => {
    expect(progressLine({ ...base, status: 'paused', etaSeconds: null })).toMatch(/12\/min$/);
  });
});

// Excerpts in outcomes and reports end at a word and, for failure messages, sit on one line.
import { describe, expect, it } from 'vitest';
import { excerpt, messageExcerpt, oneLine } from '../../workflows/excerpt';
import { formatSummaryText } from '../../activities/results/summary-text';

describe('excerpt', () => {
  it('ends before a long last word instead of inside it', () => {
    const text = 'invalid request, see https://api.example.com/docs/errors/validation#birthDate';
    // The last boundary sits at 55% of the limit: the old excerpt cut the URL in the middle.
    expect(excerpt(text, 40)).toBe('invalid request, see…');
  });

  it('keeps a word the limit ends exactly after', () => {
    expect(excerpt('alpha beta gamma delta', 10)).toBe('alpha beta…');
  });

  it('cuts a single token longer than half the limit where the limit falls', () => {
    expect(excerpt(`id ${'x'.repeat(50)}`, 20)).toBe(`id ${'x'.repeat(17)}…`);
  });

  it('never leaves half a surrogate pair', () => {
    const cut = excerpt('😀'.repeat(30), 21);
    expect(cut).toBe(`${'😀'.repeat(10)}…`);
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('keeps short text whole, line breaks included (outputs keep them)', () => {
    expect(excerpt('a\nb', 10)).toBe('a\nb');
  });
});

describe('messageExcerpt', () => {
  it('folds line breaks, tabs and space runs into one line', () => {
    expect(oneLine('  line one\r\nline two\n\n\tline   three \n')).toBe('line one line two line three');
  });

  it('a long multi-line target answer becomes one line cut at a word', () => {
    const body = `HTTP 422 Unprocessable Entity:\n{\n  "error": "validation failed",\n  "fields": [${'"birthDate", '.repeat(20)}"end"]\n}`;
    const msg = messageExcerpt(body, 80);
    expect(msg).not.toMatch(/[\r\n\t]/);
    expect(msg.length).toBeLessThanOrEqual(81);
    expect(msg).toMatch(/^HTTP 422 Unprocessable Entity: \{ "error": "validation failed",/);
    // Ends after a whole word of the original, not inside one.
    const words = oneLine(body).split(' ');
    expect(words).toContain(msg.slice(0, -1).split(' ').at(-1));
  });
});

describe('summary.txt recent failures', () => {
  it('lists each failure on one line, cut at a word', () => {
    const text = formatSummaryText({
      batchId: 'b',
      status: 'failed',
      total: 1,
      succeeded: 0,
      failed: 1,
      skipped: 0,
      cancelled: 0,
      running: 0,
      pending: 0,
      percent: 100,
      throughputPerMinute: 0,
      latencyMs: { avg: 1, p50: 1, p95: 1, p99: 1, max: 1 },
      stepLatencyMs: undefined,
      fastest: null,
      slowest: null,
      errorRate: 1,
      etaSeconds: null,
      cost: 0,
      budget: null,
      startedAt: '2026-11-27T00:00:00.000Z',
      endedAt: '2026-11-27T00:00:01.000Z',
      outputDir: '/out',
      webUiUrl: null,
      concurrency: 1,
      rate: null,
      runNumber: 1,
      errorsByType: { CommandFailed: 1 },
      source: '/in.csv',
      recentFailures: [
        {
          key: 'K1',
          index: 0,
          errorType: 'CommandFailed',
          errorMessage: `command convert exited 1:\nconvert: unable to open image 'a.png'\n${'detail '.repeat(40)}`,
          attempts: 1,
          at: '2026-11-27T00:00:01.000Z',
        },
      ],
    });
    const line = text.split('\n').find((l) => l.includes('K1:'));
    expect(line).toMatch(
      /^ {2}K1: CommandFailed: command convert exited 1: convert: unable to open image 'a.png' detail/,
    );
    expect(line).toMatch(/ detail…$/);
    expect(text).not.toContain('exited 1:\nconvert');
  });
});

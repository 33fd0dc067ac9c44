// `durabatch list`: batches, newest first, one page at a time from Temporal visibility.
import type { Command } from 'commander';
import { InputError } from '../../errors';
import { LIST_STATUSES, parseSince } from '../../client/list-query';
import type { BatchListEntry } from '../../client/listing';
import { compactDuration } from '../../util/durations';
import { withBatchClient } from '../batch-connection';

interface ListFlags {
  status?: string;
  source?: string;
  since?: string;
  limit: string;
  pageToken?: string;
  json?: boolean;
}

const MAX_LIMIT = 1000;

/** `2025-01-31 08:00:03Z`: sortable, unambiguous, and short enough for a table. */
const shortTime = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

function table(rows: BatchListEntry[]): string {
  const head = ['BATCH', 'STATUS', 'PROGRESS', 'TOTAL', 'FAILED', 'STARTED', 'DURATION', 'ITEMS/MIN'];
  const body = rows.map((b) => [
    b.retryOf ? `${b.batchId} (retry of ${b.retryOf})` : b.batchId,
    b.status,
    b.percent === null ? '-' : `${b.percent}%`,
    b.total === null ? '-' : String(b.total),
    b.failed === null ? '-' : String(b.failed),
    shortTime(b.startedAt),
    compactDuration(b.durationMs),
    b.throughputPerMinute === null ? '-' : String(b.throughputPerMinute),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  // Numbers right-aligned so they line up by magnitude.
  const right = new Set([2, 3, 4, 7]);
  const line = (r: string[]) =>
    r
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)].join('\n');
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
    throw new InputError(
      `--limit "${value}" is not a whole number from 1 to ${MAX_LIMIT}`,
      'e.g. --limit 50',
    );
  }
  return n;
}

export function registerList(program: Command): void {
  program
    .command('list')
    .description('batches, newest first (one page from Temporal visibility)')
    .option('--status <status>', `only batches in this status: ${LIST_STATUSES.join('|')}`)
    .option(
      '--source <text>',
      'only batches whose source path contains this text (see below: filters the page)',
    )
    .option(
      '--since <when>',
      'only batches started after this: a duration back from now (24h, 7d) or an ISO date',
    )
    .option('--limit <n>', `batches per page, 1..${MAX_LIMIT}`, '20')
    .option('--page-token <token>', 'continue a listing: the token printed after the previous page')
    .option('--json', 'print the page as a JSON array (the next-page token goes to stderr)')
    .addHelpText(
      'after',
      `
Examples:
  durabatch list
  durabatch list --status partial_failure --since 24h
  durabatch list --since 2025-01-31 --limit 100 --json | jq '.[].batchId'
  durabatch list --limit 50 --page-token <token printed by the previous page>

Order: running batches first, then by most recent end (Temporal visibility's order). Only one page is
read per call, so the listing stays fast with any number of batches; a next-page token is printed when
there are more. Give it with the same --status/--since filters.

--source is matched on this side, not by Temporal (the source path is a memo, not a search
attribute): it filters the page of --limit batches that was read, so a page may show fewer than
--limit batches, or none, while later pages still hold matches. Follow the next-page token for more.

Progress is the BatchProgress search attribute; failed and throughput come from the batch's
results/summary.json once it ended (\`-\` while it runs, or if its output directory is not on this
machine).`,
    )
    .action((flags: ListFlags) => {
      const limit = parseLimit(flags.limit);
      const since = flags.since === undefined ? undefined : parseSince(flags.since);
      return withBatchClient(async (client, env) => {
        const { listBatches } = await import('../../client/listing');
        const page = await listBatches(client.client, env.namespace, {
          status: flags.status,
          source: flags.source,
          since,
          limit,
          pageToken: flags.pageToken,
        });
        // The next page repeats this page's filters exactly: --since as the instant it resolved to.
        const more = page.nextPageToken
          ? [
              `more: durabatch list --limit ${limit}`,
              flags.status ? ` --status ${flags.status}` : '',
              since ? ` --since ${since.toISOString()}` : '',
              flags.source ? ` --source '${flags.source.replace(/'/g, `'\\''`)}'` : '',
              ` --page-token ${page.nextPageToken}`,
            ].join('')
          : undefined;
        if (flags.json) {
          process.stdout.write(JSON.stringify(page.batches, null, 2) + '\n');
          if (more) process.stderr.write(`${more}\n`);
          return;
        }
        if (page.batches.length === 0) {
          const filtered =
            flags.source && page.scanned > 0
              ? ` (${page.scanned} read, none with source "${flags.source}")`
              : '';
          process.stdout.write(
            `no batches${flags.status || flags.since || flags.source ? ' match' : ''}${filtered}\n`,
          );
        } else {
          process.stdout.write(table(page.batches) + '\n');
          if (flags.source && page.scanned > page.batches.length) {
            process.stdout.write(
              `(${page.scanned} read, ${page.batches.length} with source "${flags.source}")\n`,
            );
          }
        }
        if (more) process.stdout.write(`${more}\n`);
      });
    });
}

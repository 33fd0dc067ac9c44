// `durabatch report <id>`: the batch's summary and where its result files are, and optionally one
// zip archive of documents/, results/ and audit/ to hand to someone else.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { auditFile } from '../../audit/audit-log';
import { InputError } from '../../errors';
import { withBatchClient } from '../batch-connection';
import { archiveEntries, fillArchive, type ArchiveEntry } from '../../output-dir/archive';

/**
 * Streams the archive into `target` (output-dir/archive.ts). Written beside the target and renamed,
 * so a failed run never leaves a truncated archive under the name asked for.
 */
export async function writeArchive(
  outputDir: string,
  target: string,
): Promise<{ entries: number; failedEntries: number; bytes: number }> {
  await mkdir(path.dirname(target), { recursive: true });
  const { ZipFile } = await import('yazl');
  const zip = new ZipFile();
  const tmp = `${target}.tmp-${process.pid}`;
  const zipError = new Promise<never>((_, reject) => zip.once('error', reject));
  zipError.catch(() => undefined);
  const written = pipeline(zip.outputStream, createWriteStream(tmp));
  let entries: ArchiveEntry[];
  try {
    entries = await archiveEntries(outputDir, target);
    fillArchive(zip, entries);
    await Promise.race([written, zipError]);
  } catch (err) {
    (zip.outputStream as NodeJS.ReadableStream & { destroy(): void }).destroy();
    await written.catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await rename(tmp, target);
  return {
    entries: entries.length,
    failedEntries: entries.filter((e) => e.failed).length,
    bytes: (await stat(target)).size,
  };
}

interface ReportFiles {
  summaryText: string;
  summaryJson: string;
  items: string;
  results: string;
  failed: string;
  workbook?: string;
  documents?: string;
  audit?: string;
  logs?: string;
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

async function reportFiles(outputDir: string): Promise<ReportFiles> {
  const results = path.join(outputDir, 'results');
  const files: ReportFiles = {
    summaryText: path.join(results, 'summary.txt'),
    summaryJson: path.join(results, 'summary.json'),
    items: path.join(results, 'items.jsonl'),
    results: path.join(results, 'results.csv'),
    failed: path.join(results, 'failed.csv'),
  };
  const optional: [keyof ReportFiles, string][] = [
    ['workbook', path.join(results, 'results.xlsx')],
    ['documents', path.join(outputDir, 'documents')],
    ['audit', auditFile(outputDir)],
    ['logs', path.join(outputDir, 'logs')],
  ];
  for (const [name, p] of optional) if (await exists(p)) files[name] = p;
  return files;
}

const LABELS: Record<keyof ReportFiles, string> = {
  summaryText: 'summary',
  summaryJson: 'summary (JSON)',
  items: 'every item',
  results: 'results (CSV)',
  failed: 'failed rows',
  workbook: 'results (XLSX)',
  documents: 'documents',
  audit: 'audit log',
  logs: 'logs',
};

function megabytes(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .argument('<batchId>')
    .description("a finished batch's summary and the paths of its result files")
    .option('--json', 'print { batchId, status, outputDir, summary, files, archive } as JSON')
    .option(
      '--zip <file>',
      'also write one zip archive of results/, documents/ and audit/ (outputs of items that did not succeed under failed/)',
    )
    .addHelpText(
      'after',
      `
Examples:
  durabatch report patients-20250131-080003-ab12
  durabatch report patients-20250131-080003-ab12 --zip patients-report.zip
  durabatch report patients-20250131-080003-ab12 --json | jq .summary.failed

The output directory is the one the batch was started with (its memo); the report exists once the
batch has ended (\`durabatch watch <id>\` waits for that). The archive is streamed file by file, so
large documents/ folders are fine; results/pages/ (raw pages, all in items.jsonl) is left out.`,
    )
    .action((batchId: string, opts: { json?: boolean; zip?: string }) =>
      withBatchClient(async (client) => {
        const { describeBatch, requireOutputDir } = await import('../../client/batch-records');
        const desc = await describeBatch(client, batchId);
        const outputDir = requireOutputDir(batchId, desc);
        const files = await reportFiles(outputDir);
        const summaryText = await readFile(files.summaryText, 'utf8').catch(() => undefined);
        const summaryJson = await readFile(files.summaryJson, 'utf8').catch(() => undefined);
        if (summaryText === undefined || summaryJson === undefined) {
          const running = desc.status.name === 'RUNNING';
          throw new InputError(
            running
              ? `batch "${batchId}" is still running: its report is written when it ends`
              : `batch "${batchId}" ended ${desc.status.name} without a report in ${path.join(outputDir, 'results')}`,
            running
              ? `wait for it with \`durabatch watch ${batchId}\`, or see \`durabatch status ${batchId}\``
              : desc.status.name === 'TERMINATED'
                ? 'a terminated batch never writes its report (`durabatch cancel` ends a batch with one)'
                : 'the output directory may be on another machine, or was moved or deleted',
          );
        }
        const summary = JSON.parse(summaryJson) as { status?: string };
        let archive: { file: string; entries: number; failedEntries: number; bytes: number } | undefined;
        if (opts.zip) {
          const file = path.resolve(opts.zip);
          archive = { file, ...(await writeArchive(outputDir, file)) };
        }
        if (opts.json) {
          const out = {
            batchId,
            status: summary.status ?? null,
            outputDir,
            summary,
            files,
            archive: archive ?? null,
          };
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return;
        }
        const width = Math.max(...Object.values(LABELS).map((l) => l.length));
        const lines = Object.entries(files).map(
          ([k, p]) => `  ${LABELS[k as keyof ReportFiles].padEnd(width)}  ${p}`,
        );
        process.stdout.write(`${summaryText}\nfiles (${outputDir}):\n${lines.join('\n')}\n`);
        if (archive)
          process.stdout.write(
            `archive: ${archive.file} (${archive.entries} files, ${megabytes(archive.bytes)})` +
              (archive.failedEntries > 0
                ? `; ${archive.failedEntries} files of items that did not succeed are under failed/documents/`
                : '') +
              '\n',
          );
      }),
    );
}

// `durabatch report <id>`: the batch's summary and where its result files are, and optionally one
// zip archive of documents/, results/ and audit/ to hand to someone else.
import { createWriteStream } from 'node:fs';
import { mkdir, opendir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { auditFile } from '../../audit/audit-log';
import { InputError } from '../../errors';
import { withBatchClient } from '../batch-connection';
import { safeKey } from '../../output-dir/layout';
import { jsonLines } from '../../util/json-lines';

/** Folders of the output directory that go into the archive, in this order. */
const ARCHIVED = ['results', 'documents', 'audit'];

/** Skipped in the archive: the raw result pages (items.jsonl holds all of them) and half-written temporaries. */
const skipped = (rel: string) => rel.startsWith('results/pages/') || /\.tmp-[^/]*$/.test(rel);

async function* walk(dir: string): AsyncGenerator<string> {
  const handle = await opendir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return;
  // Sorted, so the archive lists entries in the same order every time.
  const entries: { name: string; dir: boolean; file: boolean }[] = [];
  for await (const e of handle) entries.push({ name: e.name, dir: e.isDirectory(), file: e.isFile() });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.dir) yield* walk(full);
    else if (e.file) yield full;
  }
}

/**
 * Streams the files into `target` (yazl reads one file at a time and writes ZIP64 when needed, so
 * neither the number nor the size of documents is bounded by memory). Written beside the target
 * and renamed, so a failed run never leaves a truncated archive under the name asked for.
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
  let entries = 0;
  let failedEntries = 0;
  try {
    // Outputs of items that did not succeed (a half-written image, a 0-byte file) are not results:
    // they go under failed/, apart from the ones to hand on.
    const notSucceeded = await unsucceededFolders(outputDir);
    for (const folder of ARCHIVED) {
      for await (const file of walk(path.join(outputDir, folder))) {
        let rel = path.relative(outputDir, file).split(path.sep).join('/');
        if (skipped(rel) || path.resolve(file) === target) continue;
        if (folder === 'documents' && notSucceeded.has(rel.split('/')[1] ?? '')) {
          rel = `failed/${rel}`;
          failedEntries += 1;
        }
        zip.addFile(file, rel);
        entries += 1;
      }
    }
    zip.end();
    await Promise.race([written, zipError]);
  } catch (err) {
    (zip.outputStream as NodeJS.ReadableStream & { destroy(): void }).destroy();
    await written.catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await rename(tmp, target);
  return { entries, failedEntries, bytes: (await stat(target)).size };
}

/** documents/ folder names of items whose outcome is not `succeeded` (from results/items.jsonl). */
async function unsucceededFolders(outputDir: string): Promise<Set<string>> {
  const folders = new Set<string>();
  const items = path.join(outputDir, 'results', 'items.jsonl');
  const exists = await stat(items).then(
    () => true,
    () => false,
  );
  if (!exists) return folders;
  for await (const o of jsonLines<{ key: string; status: string }>(items)) {
    if (o.status !== 'succeeded') folders.add(safeKey(o.key));
  }
  return folders;
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

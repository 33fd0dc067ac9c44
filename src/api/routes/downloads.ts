// A batch's report and its files: the summary with links, results.csv, failed.csv, results.xlsx
// (XLSX sources) and a ZIP of results/, documents/ and audit/ built while it streams. Files come only
// from the batch's own output directory, as its memo names it; nothing in the request names a path.
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ZipFile } from 'yazl';
import { z } from 'zod';
import { memoOutputDir } from '../../client/batch-records';
import type { BatchClient } from '../../client/batch-client';
import { archiveEntries, fillArchive } from '../../output-dir/archive';
import { resultsDir } from '../../output-dir/layout';
import { typed } from '../app';
import { describeOr404 } from '../batch-lookup';
import type { ApiContext } from '../context';
import { batchPath } from '../links';
import { requireInsideRoots } from '../storage-roots';
import { ApiProblem } from '../problem';
import { BatchIdParam, COMMON_PROBLEMS, Problem } from '../schemas';

/** What a report's summary.json says of its files (activities/results/report.ts). */
interface Summary {
  status?: string;
  files?: { workbook?: string };
  workbookError?: string;
  [field: string]: unknown;
}

/** The links of a report's downloads, as absolute paths under /v1. */
const ReportFiles = z.object({
  resultsCsv: z.string(),
  failedCsv: z.string(),
  resultsXlsx: z.string().optional().describe('XLSX sources only: the original rows with their outcomes.'),
  archive: z.string(),
});

const Report = z
  .looseObject({ batchId: z.string(), status: z.string(), files: ReportFiles })
  .describe(
    'The batch’s results/summary.json (the fields of GET /v1/batches/{id}, latency, recent failures, source) with `files` as download links.',
  );

const DOWNLOAD_PROBLEMS = { 404: Problem, 409: Problem, ...COMMON_PROBLEMS } as const;

/**
 * The output directory and summary of an ended batch. Running: 409 (its files are written when it
 * ends); ended without a report (terminated, or the directory is not on this machine): 404.
 */
async function endedReport(
  c: BatchClient,
  batchId: string,
  roots: readonly string[],
): Promise<{ outputDir: string; summary: Summary }> {
  const desc = await describeOr404(c, batchId);
  const outputDir = memoOutputDir(desc);
  if (outputDir === undefined) {
    throw new ApiProblem(
      404,
      'Not Found',
      `"${batchId}" has no output directory in its memo: it is not a durabatch batch`,
      'list the batches with GET /v1/batches',
    );
  }
  await requireInsideRoots(roots, batchId, outputDir, 'output directory');
  if (desc.status.name === 'RUNNING') {
    throw new ApiProblem(
      409,
      'Conflict',
      `batch "${batchId}" is still running: its report and result files are written when it ends`,
      `wait for the batch to end (its events stream, GET ${batchPath(batchId, '/events')}, ends with an \`end\` event), then download again`,
    );
  }
  const text = await readFile(path.join(resultsDir(outputDir), 'summary.json'), 'utf8').catch(
    () => undefined,
  );
  let summary: Summary | undefined;
  try {
    summary = text === undefined ? undefined : (JSON.parse(text) as Summary);
  } catch {
    summary = undefined;
  }
  if (!summary) {
    throw new ApiProblem(
      404,
      'Not Found',
      `batch "${batchId}" ended ${desc.status.name} without a readable report in its output directory`,
      desc.status.name === 'TERMINATED'
        ? 'a terminated batch never writes its report (POST /v1/batches/{id}/cancel ends a batch with one)'
        : 'its output directory may be on another machine than the service, or was moved or deleted',
    );
  }
  return { outputDir, summary };
}

const CONTENT_TYPES = {
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  zip: 'application/zip',
} as const;

function attachment(reply: FastifyReply, batchId: string, name: string, type: string): FastifyReply {
  return reply
    .type(type)
    .header('content-disposition', `attachment; filename="${batchId}-${name}"`)
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-store');
}

/**
 * Streams one file of the results folder. Opened without following a link, and only a regular
 * file is sent: the folder is the batch's, but what lies in it is checked, not trusted.
 */
async function sendResultsFile(
  reply: FastifyReply,
  batchId: string,
  outputDir: string,
  file: string,
  type: string,
): Promise<FastifyReply> {
  const full = path.join(resultsDir(outputDir), file);
  const fh = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  const info = await fh?.stat();
  if (!fh || !info?.isFile()) {
    await fh?.close();
    throw new ApiProblem(
      404,
      'Not Found',
      `batch "${batchId}" has no ${file} in its output directory`,
      'the output directory may be on another machine than the service, or was changed after the batch ended',
    );
  }
  return attachment(reply, batchId, file, type)
    .header('content-length', info.size)
    .send(fh.createReadStream());
}

/** A file route's 200: bytes of the given type, as an attachment. */
const fileAnswer = (what: string) => z.unknown().describe(what);

export function registerDownloadRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const api = typed(app);
  const client = () => ctx.clientFor({ name: 'service', scopes: new Set() });

  api.get(
    '/v1/batches/:id/report',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'A batch’s report',
        description:
          'The summary an ended batch wrote, with links to its files. A running batch answers 409 (the report is written when it ends).',
        tags: ['reports'],
        params: BatchIdParam,
        response: { 200: Report, ...DOWNLOAD_PROBLEMS },
      },
    },
    async (req) => {
      const { id } = req.params;
      const { summary } = await endedReport(client(), id, ctx.storageRoots);
      return {
        ...summary,
        batchId: id,
        status: summary.status ?? 'unknown',
        files: {
          resultsCsv: batchPath(id, '/results.csv'),
          failedCsv: batchPath(id, '/failed.csv'),
          ...(summary.files?.workbook ? { resultsXlsx: batchPath(id, '/results.xlsx') } : {}),
          archive: batchPath(id, '/archive.zip'),
        },
      };
    },
  );

  const csvRoute = (file: 'results.csv' | 'failed.csv', summary: string, description: string) =>
    api.get(
      `/v1/batches/:id/${file}`,
      {
        config: { scope: 'read' },
        schema: {
          summary,
          description: `${description} text/csv, as an attachment. A running batch answers 409.`,
          tags: ['reports'],
          params: BatchIdParam,
          produces: [CONTENT_TYPES.csv],
          response: { 200: fileAnswer(`text/csv: ${file}`), ...DOWNLOAD_PROBLEMS },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
        const { outputDir } = await endedReport(client(), id, ctx.storageRoots);
        return sendResultsFile(reply, id, outputDir, file, CONTENT_TYPES.csv);
      },
    );
  csvRoute(
    'results.csv',
    'A batch’s results (CSV)',
    'One row per item: key, status, attempts, latency, error.',
  );
  csvRoute(
    'failed.csv',
    'A batch’s failed rows (CSV)',
    'The original rows of failed and invalid items plus their error, ready to fix and submit again.',
  );

  api.get(
    '/v1/batches/:id/results.xlsx',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'A batch’s results workbook (XLSX sources)',
        description:
          'The source workbook’s rows with their outcomes. Only batches whose source is an XLSX workbook have one (404 otherwise); a running batch answers 409.',
        tags: ['reports'],
        params: BatchIdParam,
        produces: [CONTENT_TYPES.xlsx],
        response: { 200: fileAnswer('the results workbook'), ...DOWNLOAD_PROBLEMS },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const { outputDir, summary } = await endedReport(client(), id, ctx.storageRoots);
      if (!summary.files?.workbook) {
        throw new ApiProblem(
          404,
          'Not Found',
          summary.workbookError
            ? `batch "${id}" has no results.xlsx: ${summary.workbookError}`
            : `batch "${id}" has no results.xlsx: only batches whose source is an XLSX workbook get one`,
          `download the results as CSV: GET ${batchPath(id, '/results.csv')}`,
        );
      }
      return sendResultsFile(reply, id, outputDir, 'results.xlsx', CONTENT_TYPES.xlsx);
    },
  );

  api.get(
    '/v1/batches/:id/archive.zip',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'A batch’s results as one ZIP',
        description:
          'results/ (without the raw pages), documents/ (outputs of items that did not succeed under failed/documents/) and audit/, as `durabatch report --zip` writes them, built while it streams. A running batch answers 409.',
        tags: ['reports'],
        params: BatchIdParam,
        produces: [CONTENT_TYPES.zip],
        response: { 200: fileAnswer('the ZIP archive'), ...DOWNLOAD_PROBLEMS },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const { outputDir } = await endedReport(client(), id, ctx.storageRoots);
      const entries = await archiveEntries(outputDir);
      const zip = new ZipFile();
      // A file that vanishes mid-stream ends the download as a broken response, never a silent gap.
      zip.on('error', (err: Error) => {
        req.log.error({ err, batchId: id }, 'archive stream failed');
        (zip.outputStream as NodeJS.ReadableStream & { destroy(e?: Error): void }).destroy(err);
      });
      fillArchive(zip, entries);
      return attachment(reply, id, 'archive.zip', CONTENT_TYPES.zip).send(zip.outputStream);
    },
  );
}

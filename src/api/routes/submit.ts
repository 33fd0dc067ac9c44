// Starting batches through the service: POST /v1/batches (JSON: a source path under the source
// roots or inline items; multipart: uploaded files and a metadata file), POST /v1/batches/plan (the
// same request, nothing starts) and POST /v1/batches/{id}/retry-failed. The processor is always a
// preset; the batch runs on the service's task queue with its output under api.outputRoot. An
// Idempotency-Key makes a retried POST answer the batch the first one started.
import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import multipart from '@fastify/multipart';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { defaultBatchId, type BatchClient } from '../../client/batch-client';
import { readBatchInput, type BatchMemo } from '../../client/batch-records';
import { startRetryFailed } from '../../client/retry-failed';
import { Config, formatConfigIssues } from '../../config/schema';
import { isWithin } from '../../source/formats/directory';
import { readManifest } from '../../source/manifest';
import { typed } from '../app';
import type { Principal } from '../auth';
import type { ApiContext } from '../context';
import { batchLinks, BatchLinks } from '../links';
import { presetsOf, resolvePreset } from '../presets';
import { hideServerPaths, hideServerPathsIn } from '../server-paths';
import { ApiProblem } from '../problem';
import {
  INHERITED_SETTINGS,
  MultipartSettings,
  parseRequest,
  SubmitRequest,
  type MultipartSettings as Fields,
} from '../request-settings';
import { BatchIdParam, COMMON_PROBLEMS, Problem } from '../schemas';
import {
  claimFolder,
  ITEMS_FILE,
  KEYS_FILE,
  newRequestFolder,
  receiveMultipart,
  removeFolder,
  writeInlineItems,
  writeKeys,
  type RequestFolder,
} from '../uploads';

/** How long a request waits for a concurrent one with the same Idempotency-Key to start its batch. */
const CLAIM_WAIT_MS = 60_000;

const Started = z
  .object({
    batchId: z.string(),
    total: z.number().int(),
    invalid: z.number().int(),
    problems: z.array(z.string()),
    warnings: z.array(z.string()),
    status: z.literal('running'),
    links: BatchLinks,
  })
  .describe('The batch started (or, for a replayed Idempotency-Key, the batch the first request started).');
type Started = z.infer<typeof Started>;

const IdempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,200}$/, 'printable ASCII, at most 200 characters')
    .optional()
    .describe(
      'Resending a request with the same key (same token) answers the same batch, never a second one.',
    ),
});

const PlanQuery = z.object({
  estimateLatencyMs: z.coerce
    .number()
    .int()
    .min(1)
    .max(3_600_000)
    .default(1_000)
    .describe('Assumed time per item for the duration estimate, ms.'),
});

const Plan = z.looseObject({ total: z.number().int(), valid: z.number().int(), invalid: z.number().int() });

const RetryBody = z
  .strictObject({
    batchId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, ".", "_" and "-" only')
      .optional(),
    label: z.string().min(1).max(200).optional(),
  })
  .nullish()
  .describe('Optional: the new batch’s id and label.');

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** JSON with object keys sorted: the same request gives the same text, whatever its key order. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => stableJson(v ?? null)).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** The batch id an Idempotency-Key names for this token: the same on every replica. */
const idempotentBatchId = (who: Principal, key: string) =>
  `req-${sha256(`${who.name}\0${key}`).slice(0, 24)}`;

/** A start request, received: its fields, where its items are, and its identity for Idempotency-Key. */
interface Received {
  fields: Fields;
  kind: 'files' | 'items' | 'path';
  /** `source.path` as sent (kind `path`). */
  sourcePath?: string;
  /** The metadata file's name in the request folder (kind `files`). */
  metadata?: string;
  digest: string;
}

/** The multipart settings part's JSON; 400 when it is not JSON. */
function settingsJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiProblem(
      400,
      'Bad Request',
      `settings: not valid JSON (${(err as Error).message})`,
      'send the settings part as JSON text',
    );
  }
}

export function registerSubmitRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const presets = presetsOf(ctx.settings);
  type FastifyZodValidatorCompiler = typeof validatorCompiler;
  const { settings } = ctx;
  /** Staging's findings as a client may read them: no server paths. */
  const clientText = (text: string) => hideServerPaths(text, { ...settings, home: ctx.home });

  /** The answer for a started batch, from its count and staging findings: what a client may read. */
  const startedAnswer = (
    batchId: string,
    staged: Pick<Started, 'total' | 'invalid' | 'problems' | 'warnings'>,
    webUiUrl: string | null,
  ): Started => ({
    batchId,
    total: staged.total,
    invalid: staged.invalid,
    problems: staged.problems.map(clientText),
    warnings: staged.warnings.map(clientText),
    status: 'running',
    links: batchLinks(batchId, webUiUrl),
  });

  /** Reads the request into `folder` (multipart files, inline items, the key list). */
  async function receive(req: FastifyRequest, folder: RequestFolder): Promise<Received> {
    let received: Received;
    if (req.isMultipart()) {
      const up = await receiveMultipart(
        req,
        folder,
        { maxFiles: settings.maxFiles, maxBytes: settings.maxUploadBytes },
        (text) => {
          const fields = parseRequest(MultipartSettings, settingsJson(text));
          resolvePreset(presets, fields.preset, fields.params);
        },
      );
      if (up.settings === undefined)
        throw new ApiProblem(
          400,
          'Bad Request',
          'settings: the settings part is missing',
          'send a part named "settings" with {"preset": ...} as JSON',
        );
      const json = settingsJson(up.settings);
      if (up.files === 0)
        throw new ApiProblem(
          400,
          'Bad Request',
          'files: no file was uploaded',
          'send each file as a part named "files" whose file name is its relative path',
        );
      const fields = parseRequest(MultipartSettings, json);
      received = {
        fields,
        kind: 'files',
        metadata: up.metadata,
        digest: sha256(`${stableJson(fields)}\0${up.digest}`),
      };
    } else {
      const body = parseRequest(SubmitRequest, req.body ?? {});
      const { source, items, ...fields } = body;
      if ((source === undefined) === (items === undefined))
        throw new ApiProblem(
          400,
          'Bad Request',
          'source, items: send exactly one of them',
          'name a file with "source": {"path": ...}, send "items": [...], or upload files as multipart/form-data',
        );
      if (items) await writeInlineItems(folder, items);
      received = {
        fields,
        kind: items ? 'items' : 'path',
        sourcePath: source?.path,
        digest: sha256(stableJson(body)),
      };
    }
    if (received.fields.settings?.keys) await writeKeys(folder, received.fields.settings.keys);
    return received;
  }

  /** `source.path`, resolved (links included) inside one of api.sourceRoots; 400 otherwise. */
  async function sourceUnderRoots(given: string): Promise<string> {
    const roots = settings.sourceRoots.map((r) => path.resolve(r));
    const fix = `name a file under ${roots.length ? roots.join(', ') : '(none configured)'} (config api.sourceRoots), or upload the files`;
    if (roots.length === 0)
      throw new ApiProblem(
        400,
        'Bad Request',
        'source.path: this service reads no paths: api.sourceRoots is empty',
        fix,
      );
    const candidate = path.resolve(roots[0]!, given);
    const outside = () =>
      new ApiProblem(
        400,
        'Bad Request',
        `source.path: "${given.slice(0, 300)}" is outside the service's source roots`,
        fix,
      );
    if (!roots.some((r) => isWithin(r, candidate))) throw outside();
    const real = await realpath(candidate).catch(() => {
      throw new ApiProblem(400, 'Bad Request', `source.path: "${given.slice(0, 300)}" does not exist`, fix);
    });
    const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => r)));
    if (!realRoots.some((r) => isWithin(r, real))) throw outside();
    return real;
  }

  /** The batch's settings: the service's defaults, then the preset's, then the request's; paths the service's. */
  function batchConfig(got: Received, folder: RequestFolder, batchId: string): Config {
    const { fields } = got;
    const preset = resolvePreset(presets, fields.preset, fields.params);
    const base = Object.fromEntries(INHERITED_SETTINGS.map((k) => [k, ctx.config[k]]));
    const { keys, ...requested } = fields.settings ?? {};
    const input = {
      ...base,
      ...preset,
      ...requested,
      ...(keys ? { keys: path.join(folder.dir, KEYS_FILE) } : {}),
      ...(got.kind === 'files'
        ? { format: 'dir', ...(got.metadata ? { metadata: path.join(folder.dir, got.metadata) } : {}) }
        : {}),
      ...(got.kind === 'items' ? { format: 'jsonl' } : {}),
      batchId,
      taskQueue: ctx.config.taskQueue,
      home: ctx.home,
      outputDir: path.join(settings.outputRoot, batchId),
      followSymlinks: false,
    };
    const parsed = Config.safeParse(input);
    if (parsed.success) return parsed.data;
    const sources: Record<string, string> = Object.fromEntries([
      ...Object.keys(preset).map((k) => [k, `preset "${fields.preset}" ${k}`] as const),
      ...Object.keys(requested).map((k) => [k, `settings.${k}`] as const),
    ]);
    throw new ApiProblem(
      400,
      'Bad Request',
      formatConfigIssues(parsed.error, sources, input).split('\n').join('; '),
      'see GET /v1/presets and the request schema in GET /v1/openapi.json',
    );
  }

  const sourceOf = async (got: Received, folder: RequestFolder): Promise<string> =>
    got.kind === 'files'
      ? folder.filesDir
      : got.kind === 'items'
        ? path.join(folder.dir, ITEMS_FILE)
        : await sourceUnderRoots(got.sourcePath!);

  /**
   * The answer of the batch an earlier request with this key started; undefined when none exists.
   * 409 when that batch came from a different request.
   */
  async function earlierAnswer(
    client: BatchClient,
    batchId: string,
    request: string,
    what: string,
  ): Promise<Started | undefined> {
    let memo: Partial<BatchMemo>;
    try {
      memo = (await client.handle(batchId).describe()).memo ?? {};
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
    if (memo.request !== request)
      throw new ApiProblem(
        409,
        'Conflict',
        `${what} already started batch "${batchId}" for a different request`,
        'send a new Idempotency-Key (or batch id) for a new request, or resend exactly the first request',
        { batchId },
      );
    const input = await readBatchInput(client, batchId);
    const manifest = await readManifest(input.source.dir).catch(() => undefined);
    return startedAnswer(
      batchId,
      {
        total: memo.total ?? input.source.total,
        invalid: manifest?.invalid ?? 0,
        problems: manifest?.problems ?? [],
        warnings: manifest?.warnings ?? [],
      },
      client.webUiUrl(batchId),
    );
  }

  const accepted = (reply: FastifyReply, answer: Started) =>
    reply.code(202).header('location', answer.links.self).send(answer);
  const replay = (reply: FastifyReply, answer: Started) =>
    accepted(reply.header('idempotent-replayed', 'true'), answer);

  async function start(req: FastifyRequest, reply: FastifyReply, key: string | undefined) {
    const who = req.principal;
    const client = ctx.clientFor(who);
    const folder = await newRequestFolder(settings.uploadsDir);
    let claimed = false;
    try {
      const got = await receive(req, folder);
      // Checked before anything is claimed: a bad preset or setting starts nothing.
      const named = got.fields.batchId;
      const batchId =
        named ?? (key ? idempotentBatchId(who, key) : defaultBatchId(got.fields.label ?? got.fields.preset));
      batchConfig(got, folder, batchId);
      const request = sha256(`${who.name}\0${key ?? ''}\0${got.digest}`);
      const what = key ? `Idempotency-Key "${key}"` : `batch id "${batchId}"`;
      if (key) {
        const earlier = await earlierAnswer(client, batchId, request, what);
        if (earlier) return replay(reply, earlier);
      }
      const deadline = Date.now() + CLAIM_WAIT_MS;
      while (!(await claimFolder(folder, settings.uploadsDir, batchId))) {
        // The folder is another request's: an earlier batch with this id, or a concurrent request
        // with the same key that has not started its batch yet.
        if (!key)
          throw new ApiProblem(
            409,
            'Conflict',
            `batch id "${batchId}" is taken`,
            'choose another batchId, or leave it out for a new one',
            { batchId },
          );
        const earlier = await earlierAnswer(client, batchId, request, what);
        if (earlier) return replay(reply, earlier);
        if (Date.now() > deadline)
          throw new ApiProblem(
            409,
            'Conflict',
            `${what}: another request with this key is still starting its batch`,
            'retry in a minute',
          );
        await sleep(200);
      }
      claimed = true;
      const config = batchConfig(got, folder, batchId);
      const source = await sourceOf(got, folder);
      let started;
      try {
        started = await client.start(
          source,
          config,
          {},
          {
            api: true,
            request,
            ...(got.fields.label ? { label: got.fields.label } : {}),
          },
        );
      } catch (err) {
        // A batch with this id that no request of the service made (the CLI's, say).
        const earlier = await earlierAnswer(client, batchId, request, what).catch((e: unknown) => e);
        if (earlier instanceof ApiProblem) throw earlier;
        throw err;
      }
      claimed = false; // the batch owns the folder now
      return accepted(reply, startedAnswer(batchId, started, started.webUiUrl));
    } finally {
      // Anything not started leaves nothing behind: neither an incoming folder nor a claimed one.
      if (claimed || folder.dir.includes(`${path.sep}.incoming${path.sep}`)) await removeFolder(folder);
    }
  }

  void app.register(async (scope) => {
    await scope.register(multipart, {
      // File names are relative paths (folder/a.png); they are checked by safeUploadName.
      preservePath: true,
      // Passed on to busboy: UTF-8 file names (its default reads them as latin1).
      ...({ defParamCharset: 'utf8' } as object),
      limits: {
        files: settings.maxFiles,
        fileSize: settings.maxUploadBytes,
        fields: 4,
        fieldSize: settings.maxBodyBytes,
        parts: settings.maxFiles + 8,
        headerPairs: 100,
      },
    });
    // The body is checked by parseRequest (a 400 naming each field), for JSON and multipart alike;
    // the other parts by their zod schemas as on every route.
    const bodyUnchecked = ((route: Parameters<FastifyZodValidatorCompiler>[0]) =>
      route.httpPart === 'body' ? (data: unknown) => ({ value: data }) : validatorCompiler(route)) as never;

    typed(scope).post(
      '/v1/batches',
      {
        config: { scope: 'submit' },
        validatorCompiler: bodyUnchecked,
        schema: {
          summary: 'Start a batch',
          description:
            'JSON: a preset, and `source.path` (under api.sourceRoots) or inline `items`. Or multipart/form-data: a `settings` part (the same JSON without source/items), file parts named `files` whose file name is the relative path, and an optional `metadata` CSV/JSON file mapping file names to metadata. Answers 202 at once.',
          tags: ['batches'],
          headers: IdempotencyHeaders,
          body: SubmitRequest,
          response: { 202: Started, 409: Problem, 413: Problem, ...COMMON_PROBLEMS },
        },
      },
      async (req, reply) => start(req, reply, req.headers['idempotency-key']),
    );

    typed(scope).post(
      '/v1/batches/plan',
      {
        config: { scope: 'submit' },
        validatorCompiler: bodyUnchecked,
        schema: {
          summary: 'Plan a batch (nothing starts)',
          description:
            'The same request as POST /v1/batches; answers what `durabatch plan --json` prints: counts, invalid rows with reasons, cost and mode estimates.',
          tags: ['batches'],
          querystring: PlanQuery,
          body: SubmitRequest,
          response: { 200: Plan, 413: Problem, ...COMMON_PROBLEMS },
        },
      },
      async (req) => {
        const folder = await newRequestFolder(settings.uploadsDir);
        try {
          const got = await receive(req, folder);
          const config = batchConfig(got, folder, 'plan');
          const { planOf } = await import('../../cli/plan-batch');
          const plan = await planOf(await sourceOf(got, folder), config, req.query.estimateLatencyMs);
          // What the preset runs stays the service's (as in GET /v1/presets), and so do its paths:
          // the plan names its processor by the preset.
          const kind = config.steps ? 'pipeline' : config.processor;
          const shown =
            plan.processor === null
              ? plan
              : { ...plan, processor: `preset "${got.fields.preset}" (${kind})` };
          return hideServerPathsIn(shown, { ...settings, home: ctx.home });
        } finally {
          await removeFolder(folder);
        }
      },
    );

    typed(scope).post(
      '/v1/batches/:id/retry-failed',
      {
        config: { scope: 'submit' },
        schema: {
          summary: 'Retry a batch’s failed items',
          description:
            'A new batch of exactly the failed items of an ended batch, same keys and settings. With an Idempotency-Key, a resent request answers the same new batch.',
          tags: ['batches'],
          params: BatchIdParam,
          headers: IdempotencyHeaders,
          body: RetryBody,
          response: { 202: Started, 404: Problem, 409: Problem, ...COMMON_PROBLEMS },
        },
      },
      async (req, reply) => {
        const who = req.principal;
        const client = ctx.clientFor(who);
        const key = req.headers['idempotency-key'];
        const oldId = req.params.id;
        await client.handle(oldId).describe(); // an unknown batch is a 404, before anything else
        const batchId =
          req.body?.batchId ?? (key ? idempotentBatchId(who, key) : defaultBatchId(`${oldId}-retry`));
        const request = sha256(
          `${who.name}\0${key ?? ''}\0retry-failed\0${oldId}\0${stableJson(req.body ?? {})}`,
        );
        const what = key ? `Idempotency-Key "${key}"` : `batch id "${batchId}"`;
        if (key) {
          const earlier = await earlierAnswer(client, batchId, request, what);
          if (earlier) return replay(reply, earlier);
        }
        let started;
        try {
          started = await startRetryFailed(client, oldId, {
            batchId,
            outputDir: path.join(settings.outputRoot, batchId),
            memo: { api: true, request, ...(req.body?.label ? { label: req.body.label } : {}) },
          });
        } catch (err) {
          // A concurrent request with the same key started it first: answer that batch.
          if (key) {
            const earlier = await earlierAnswer(client, batchId, request, what);
            if (earlier) return replay(reply, earlier);
          }
          throw err;
        }
        return accepted(reply, startedAnswer(batchId, started, started.webUiUrl));
      },
    );
  });
}

// What an API client may send to start a batch: a preset and its parameters, a source (a path under
// the service's source roots, or inline items, or uploaded files), and the batch settings that are
// the client's business. The settings are the config's own fields (same checks, same messages),
// strictly: a processor, a path on the server, the task queue or the allow-list are never a
// client's, and naming one is a 400 naming the field.
import { z } from 'zod';
import { Config, formatConfigIssues } from '../config/schema';
import { ApiProblem } from './problem';

/** Config fields a request's `settings` may set. */
export const CLIENT_SETTINGS = [
  'concurrency',
  'rate',
  'budget',
  'maxAttempts',
  'initialIntervalMs',
  'maxIntervalMs',
  'backoffCoefficient',
  'failFast',
  'maxFailures',
  'maxFailureRate',
  'costPerItem',
  'costField',
  'idColumn',
  'format',
  'delimiter',
  'columns',
  'sheet',
  'glob',
  'metadataKey',
  'rows',
  'where',
  'limit',
  'schema',
  'strict',
  'itemsPerChild',
  'itemExecution',
  'resultsWorkbook',
  'csvFormulas',
] as const satisfies readonly (keyof typeof Config.shape)[];

/** Settings of the service's own config that every batch it starts inherits (unless a preset or request sets them). */
export const INHERITED_SETTINGS = [
  'concurrency',
  'rate',
  'budget',
  'maxAttempts',
  'initialIntervalMs',
  'maxIntervalMs',
  'backoffCoefficient',
  'heartbeatTimeoutMs',
  'stopGraceMs',
  'failFast',
  'maxFailures',
  'maxFailureRate',
  'itemsPerChild',
  'itemExecution',
  'resultsWorkbook',
  'csvFormulas',
  'logLevel',
  'logLevels',
] as const satisfies readonly (keyof typeof Config.shape)[];

/** Most keys a request may select by (`settings.keys`). */
export const MAX_KEYS = 100_000;
/** Most inline items in one request (`items`); the body limit bounds their bytes. */
export const MAX_INLINE_ITEMS = 100_000;

type Field = { _zod: { def: { type: string; innerType?: Field } } } & z.ZodType;

/** The config field without its default: an absent setting stays absent (the preset's or the service's applies). */
function withoutDefault(field: Field): z.ZodType {
  const t = field._zod.def.type;
  return (t === 'default' || t === 'prefault') && field._zod.def.innerType ? field._zod.def.innerType : field;
}

const shape = Config.shape as unknown as Record<string, Field>;

export const RequestSettings = z
  .strictObject({
    ...Object.fromEntries(CLIENT_SETTINGS.map((k) => [k, withoutDefault(shape[k]!).optional()])),
    /** Items with these keys only: a list (never a file: the service writes the list itself). */
    keys: z
      .array(
        z
          .string()
          .min(1)
          .max(1_000)
          .regex(/^[^\r\n]*\S[^\r\n]*$/, 'a key on one line'),
      )
      .min(1)
      .max(MAX_KEYS)
      .optional(),
  })
  .describe(
    `Batch settings, as in a config file: ${CLIENT_SETTINGS.join(', ')}, keys (a list). Processors come from the preset.`,
  );
export type RequestSettings = Record<string, unknown> & { keys?: string[] };

const ParamValue = z.union([z.string().max(1_000), z.number(), z.boolean()]);

/** The fields of a start request other than its source (the multipart `settings` part holds these). */
export const SubmitFields = {
  preset: z.string().min(1).max(64).describe('The processor preset (GET /v1/presets).'),
  params: z.record(z.string().max(40), ParamValue).optional().describe('Values of the preset’s parameters.'),
  settings: RequestSettings.optional(),
  batchId: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/,
      'letters, digits, ".", "_" and "-" only, at most 100 characters',
    )
    .optional()
    .describe('The batch id. Default: derived from the Idempotency-Key, else new.'),
  label: z.string().min(1).max(200).optional().describe('Free text kept in the batch’s memo (list filter).'),
};

export const MultipartSettings = z.strictObject(SubmitFields);
export type MultipartSettings = z.infer<typeof MultipartSettings>;

export const SubmitRequest = z
  .strictObject({
    ...SubmitFields,
    source: z
      .strictObject({ path: z.string().min(1).max(4_096) })
      .optional()
      .describe('A file or folder under one of the service’s source roots (api.sourceRoots).'),
    items: z
      .array(z.record(z.string(), z.unknown()))
      .min(1)
      .max(MAX_INLINE_ITEMS)
      .optional()
      .describe('Inline items (objects), instead of a source.'),
  })
  .describe('Start a batch: a preset, and a source path or inline items (or a multipart upload).');
export type SubmitRequest = z.infer<typeof SubmitRequest>;

/**
 * Parses a request part with `schema`; a 400 naming each bad field (`settings.concurrency: 5000 is
 * too big: at most 1000`, `settings.command: not allowed here: ...`).
 */
export function parseRequest<T extends z.ZodType>(schema: T, value: unknown, where = ''): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const name = (p: PropertyKey[]) => [where, ...p.map(String)].filter(Boolean).join('.');
  const lines: string[] = [];
  const others: z.core.$ZodIssue[] = [];
  for (const issue of parsed.error.issues) {
    if (issue.code !== 'unrecognized_keys') {
      others.push(issue);
      continue;
    }
    const inSettings =
      issue.path[issue.path.length - 1] === 'settings' || (where === 'settings' && issue.path.length === 0);
    for (const key of issue.keys)
      lines.push(
        inSettings
          ? `${name([...issue.path, key])}: not a setting a client may send (processors come from the preset; paths, task queue and allow-list from the service); allowed: ${[...CLIENT_SETTINGS, 'keys'].join(', ')}`
          : `${name([...issue.path, key])}: unknown field`,
      );
  }
  if (others.length > 0) {
    const sources = Object.fromEntries(
      others.map((i) => [i.path.map(String).join('.'), name(i.path)] as const),
    );
    lines.push(...formatConfigIssues(new z.ZodError(others), sources, value).split('\n'));
  }
  throw new ApiProblem(
    400,
    'Bad Request',
    lines.slice(0, 10).join('; '),
    'see the request schema in GET /v1/openapi.json (POST /v1/batches)',
    { fields: lines.slice(0, 50) },
  );
}

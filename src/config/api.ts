// The batch service's settings (`durabatch serve`, config `api`): where it listens, who may call it,
// what clients may run (presets) and how much they may send. One zod schema, each field with its
// default, like the rest of the configuration.
import { z } from 'zod';

const boolish = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

/** What a token may do: `read` (status, items, events, reports), `operate` (pause, resume, cancel, limits), `submit` (start batches). */
export const API_SCOPES = ['read', 'operate', 'submit'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/**
 * One parameter a client may fill in when it picks a preset: referenced as `${param:NAME}` in the
 * preset's strings. Values are checked against the type, enum and pattern before any batch starts.
 */
export const PresetParam = z.strictObject({
  /** string, number or boolean. Default string. */
  type: z.enum(['string', 'number', 'boolean']).default('string'),
  /** The allowed values. Default: any value of the type that matches `pattern`. */
  enum: z.array(z.union([z.string(), z.number(), z.boolean()])).optional(),
  /** A regular expression the whole string value must match. Default `^[A-Za-z0-9._-]{1,100}$`. */
  pattern: z.string().optional(),
  /** Used when the client gives none. Default: none (the parameter is required). */
  default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  /** Shown in the console and the OpenAPI reference. */
  description: z.string().optional(),
});
export type PresetParam = z.infer<typeof PresetParam>;

/**
 * A named processor the service's clients may pick: the batch settings of a config file's
 * processor part (`processor` with `http`/`command`/`module`, or `steps`), plus defaults for the
 * batch's other settings. A client never sends a processor of its own.
 */
export const Preset = z
  .looseObject({
    /** One line for the console's preset menu and the reference. */
    description: z.string().optional(),
    /** Parameters the client may fill in, by name. Default: none. */
    params: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,39}$/), PresetParam).default({}),
    /**
     * http presets: origins (`https://host[:port]`) the filled-in URLs may reach. Default: the
     * origins of the preset's own URLs, so a parameter can never point a batch elsewhere.
     */
    allowOrigins: z.array(z.string()).optional(),
  })
  .describe('a processor preset');
export type Preset = z.infer<typeof Preset>;

/** `name:scope,scope:sha256hex` entries, as a list or one string split on `;` or newlines. */
const TokenLines = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (typeof v === 'string' ? v.split(/[;\n]/) : v).map((s) => s.trim()).filter(Boolean));

export const ApiSettings = z.strictObject({
  /** Address to listen on. Default `127.0.0.1`; any other needs tokens. */
  host: z.string().min(1).default('127.0.0.1'),
  /** Port to listen on (0: any free port). Default 8080. */
  port: z.coerce.number().int().min(0).max(65_535).default(8080),
  /**
   * Bearer tokens, kept hashed: `name:scopes:sha256` entries (`durabatch serve --new-token NAME`
   * prints one), e.g. `app:read,submit:9f86d0…`. Default: none, which is allowed only on a loopback
   * address (every local caller may do everything).
   */
  tokens: TokenLines.optional(),
  /** A file of token entries, one per line (`#` starts a comment). Default: none. */
  tokenFile: z.string().min(1).optional(),
  /** Processors clients may pick, by name (see `Preset`). Default: none (no batch can be submitted). */
  presets: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/), Preset).default({}),
  /** Folders whose files a JSON request may name as its source (`source.path`). Default: none. */
  sourceRoots: z.array(z.string().min(1)).default([]),
  /** Where uploaded files are written, one folder per batch (shared storage with the workers). Default `<home>/uploads`. */
  uploadsDir: z.string().min(1).optional(),
  /** Where batches' output directories are made. Default `output` in the working directory. */
  outputRoot: z.string().min(1).default('output'),
  /** Most files in one upload. Default 100. */
  maxFiles: z.coerce.number().int().min(1).max(100_000).default(100),
  /** Most bytes in one upload, all files together. Default 5 GiB. */
  maxUploadBytes: z.coerce
    .number()
    .int()
    .min(1)
    .default(5 * 1024 ** 3),
  /** Largest JSON request body (inline items included), in bytes. Default 10 MiB. */
  maxBodyBytes: z.coerce
    .number()
    .int()
    .min(1_024)
    .default(10 * 1024 ** 2),
  /** Requests per minute per token (or per address without tokens). Default 1200. */
  rateLimitPerMinute: z.coerce.number().int().min(1).default(1_200),
  /**
   * A connection that sends and takes nothing for this long is closed, in ms: a request body that
   * stalls (slowloris) holds no connection, upload folder or file for long. Keep it above 15 s (the
   * events streams' keep-alive) and above the longest answer you wait for. Default 120000.
   */
  idleTimeoutMs: z.coerce.number().int().min(1_000).default(120_000),
  /** Events streams (GET /v1/batches/{id}/events) open at once per token (per address without tokens). Default 20. */
  maxEventStreams: z.coerce.number().int().min(1).max(10_000).default(20),
  /** Origins allowed to call the API from a browser (CORS). Default: none (CORS off). */
  corsOrigins: z.array(z.string().min(1)).default([]),
  /** How long a batch's status answer is reused for other callers, in ms. Default 250. */
  statusCacheMs: z.coerce.number().int().min(0).max(10_000).default(250),
  /** Run a worker in the service's process that runs exactly the presets. Default false. */
  worker: boolish.default(false),
});
export type ApiSettings = z.infer<typeof ApiSettings>;

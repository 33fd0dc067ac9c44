// Processor settings: http, command, module, and pipelines of them (`steps`). Part of the Config
// schema (src/config/schema.ts); each field documented with its default.
import { parse as parseShellWords } from 'shell-quote';
import { z } from 'zod';
import {
  BODY_ENV_REF_MESSAGE,
  COMMAND_ENV_REF_MESSAGE,
  URL_CREDENTIALS,
  URL_CREDENTIALS_MESSAGE,
  URL_ENV_REF,
  URL_ENV_REF_MESSAGE,
} from './credentials';

/** Structured settings given as text (a flag or an environment variable) are JSON. */
export const jsonText = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value, ctx) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not valid JSON (${(err as Error).message})` });
      return z.NEVER;
    }
  }, schema);

/**
 * Splits a command line into argv the way a shell would quote it, but never runs a shell: `;`, `|`,
 * `>`, `&&` are refused, and globs stay literal text.
 */
export function splitCommandLine(line: string): string[] {
  const words = parseShellWords(line, (name) => `$${name}`);
  return words.map((w) => {
    if (typeof w === 'string') return w;
    if ('pattern' in w) return w.pattern;
    if ('op' in w) {
      throw new Error(
        `"${w.op}" needs a shell, and commands never run through one: put the pipeline in a script and run that`,
      );
    }
    throw new Error('comments are not allowed in a command');
  });
}

const Argv = z.union([
  z
    .array(
      z
        .string()
        .min(1)
        .refine((arg) => !URL_ENV_REF.test(arg), COMMAND_ENV_REF_MESSAGE),
    )
    .min(1),
  z
    .string()
    .min(1)
    .transform((line, ctx) => {
      try {
        const argv = splitCommandLine(line);
        if (argv.some((arg) => URL_ENV_REF.test(arg))) {
          ctx.addIssue({ code: 'custom', message: COMMAND_ENV_REF_MESSAGE });
          return z.NEVER;
        }
        return argv;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
]);

const ExitCodes = jsonText(z.array(z.number().int().min(0).max(255)));

export const HttpSettings = z.strictObject({
  /**
   * URL template (RFC 6570, e.g. `http://host/patients/{patient_id}`), without `user:pass@` or
   * `${env:NAME}` (a credential goes in a header from `${env:NAME}`; a literal secret-named query
   * parameter is warned about). Required for the http processor.
   */
  url: z
    .string()
    .min(1)
    .refine((url) => !URL_CREDENTIALS.test(url), URL_CREDENTIALS_MESSAGE)
    .refine((url) => !URL_ENV_REF.test(url), URL_ENV_REF_MESSAGE)
    .optional(),
  /** HTTP method. Default POST. */
  method: z
    .string()
    .transform((m) => m.toUpperCase())
    .pipe(z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']))
    .default('POST'),
  /** Request headers; values may reference worker environment variables as `${env:NAME}`. Default none. */
  headers: jsonText(z.record(z.string(), z.string())).default({}),
  /**
   * JSON body template with `{field}` placeholders: JSON text, or in a config file the JSON itself
   * (an object or array, so it needs no escaping). Default: the item's fields as JSON.
   */
  body: z
    .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
    .transform((b) => (typeof b === 'string' ? b : JSON.stringify(b)))
    .refine((b) => !URL_ENV_REF.test(b), BODY_ENV_REF_MESSAGE)
    .optional(),
  /** `json` (default), `raw` (the item's file as the body) or `multipart` (file + fields); files need a dir source. */
  bodyMode: z.enum(['json', 'raw', 'multipart']).default('json'),
  /** Form field of the file in multipart mode. Default `file`. */
  fileField: z.string().min(1).default('file'),
  /** Connections per target host on one worker. Default 64. */
  connections: z.coerce.number().int().min(1).max(1024).default(64),
  /** Per-attempt timeout in milliseconds. Default 30000. */
  timeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  /**
   * Where a successful answer states the item's cost: a JSON pointer into the body (`/usage/cost`)
   * or `header:<name>` (`header:X-Cost`). Default: none (the cost comes from costPerItem/costField).
   */
  costFrom: z
    .string()
    .regex(/^(\/.*|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/, {
      message:
        'must be a JSON pointer into the body (e.g. /usage/cost) or header:<name> (e.g. header:X-Cost)',
    })
    .optional(),
  /**
   * Largest body of a successful answer, in bytes after decompression: past it reading stops and
   * the item fails with ResponseTooLarge (not retried: the target already acted). Bounds the
   * worker's memory against endless or gzip-bomb answers. Default 10485760 (10 MiB).
   */
  maxResponseBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(10 * 1024 * 1024),
  /** Mutual TLS: the client certificate (PEM file) presented to the target; needs clientKey. Default none. */
  clientCert: z.string().min(1).optional(),
  /** Mutual TLS: the client certificate's private key (PEM file). Default none. */
  clientKey: z.string().min(1).optional(),
  /**
   * Passphrase of an encrypted clientKey, as `${env:NAME}`: read from the worker's environment, never
   * written into the batch's history. Default none.
   */
  clientKeyPassphrase: z
    .string()
    .regex(/^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$/, {
      message:
        "must be ${env:NAME}: the passphrase is read from the worker's environment, never stored in the batch",
    })
    .optional(),
  /** CA certificates (PEM file) trusted for the target instead of the system's. Default: the system's. */
  ca: z.string().min(1).optional(),
});

/** `true`/`false`, a list of field names, or the same as text (`"true"`, `"flags,mode"`). */
const AllowOptionValues = z.union([
  z.boolean(),
  z.array(z.string().min(1)),
  z
    .string()
    .min(1)
    .transform((t): boolean | string[] =>
      t === 'true'
        ? true
        : t === 'false'
          ? false
          : t
              .split(',')
              .map((f) => f.trim())
              .filter(Boolean),
    ),
]);

export const CommandSettings = z.strictObject({
  /** Program and arguments: a JSON array, or one string split like a shell would (but never run by one). Required. */
  argv: Argv,
  /** Working directory (placeholders allowed). Default: the worker's. */
  cwd: z
    .string()
    .min(1)
    .refine((cwd) => !URL_ENV_REF.test(cwd), COMMAND_ENV_REF_MESSAGE)
    .optional(),
  /** Extra environment; values may reference worker variables as `${env:NAME}`. Default none. */
  env: jsonText(z.record(z.string(), z.string())).default({}),
  /** Per-attempt timeout in ms; the whole process group is killed at it. Default 300000. */
  timeoutMs: z.coerce.number().int().min(100).max(86_400_000).default(300_000),
  /** Exit codes meaning success. Default [0]. */
  successExitCodes: ExitCodes.default([0]),
  /** Exit codes worth retrying; any other failing code fails the item at once. Default [75]. */
  retryableExitCodes: ExitCodes.default([75]),
  /**
   * Item values that may start an argument with `-`, i.e. become an option of the program: `true` for
   * every field, or a list of field names (`["flags"]`, or `flags,mode` as text). Default none: an
   * item value that would start an argument with `-` fails the item (InputError).
   */
  allowOptionValues: AllowOptionValues.optional(),
  /**
   * Item values may go where a remote shell parses them: ssh's remote command, the path of a
   * `host:path` operand of scp or rsync. Only for a remote side that never runs them through a shell
   * (an SFTP-only scp). Default false: such an item fails (InputError).
   */
  allowRemoteValues: z
    .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
    .optional(),
});

export const ModuleSettings = z.strictObject({
  /** Path of a JS/TS module whose default export is `async function process(item, ctx)`. Required. */
  path: z.string().min(1),
  /** Per-attempt timeout in ms. Default 300000. */
  timeoutMs: z.coerce.number().int().min(100).max(86_400_000).default(300_000),
});

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export const StepSettings = z.strictObject({
  /** Step name: later steps read its results as `{steps.<name>.body.<field>}`. */
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,39}$/, 'a letter, then letters, digits, "_" or "-"'),
  processor: z.enum(['http', 'command', 'module']),
  http: HttpSettings.optional(),
  command: CommandSettings.optional(),
  module: ModuleSettings.optional(),
  /** Overrides of the batch retry policy for this step. */
  maxAttempts: z.number().int().min(1).max(100).optional(),
  initialIntervalMs: z.number().int().min(1).optional(),
  maxIntervalMs: z.number().int().min(1).optional(),
  backoffCoefficient: z.number().min(1).max(10).optional(),
  /** Log level of this step's activity logs. Default: the worker's. */
  logLevel: z.enum(LOG_LEVELS).optional(),
});
export type StepSettings = z.infer<typeof StepSettings>;

/** A pipeline: steps run in order per item; names unique. */
export const Steps = jsonText(
  z
    .array(StepSettings)
    .min(1)
    .refine((steps) => new Set(steps.map((s) => s.name)).size === steps.length, 'step names must be unique'),
);

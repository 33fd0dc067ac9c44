// durabatch's settings: one zod schema, each field documented with its default. Booleans are parsed
// explicitly ("true"/"false"), never coerced, so "false" never means true.
import os from 'node:os';
import { z } from 'zod';
import { MAX_CONCURRENCY, MAX_RATE } from '../../workflows/limits';
import { LOG_LEVELS } from '../logging/levels';
import { maskSecrets } from '../logging/secrets';
import { SOURCE_FORMATS } from '../source/types';
import { ItemSchemaSpec } from '../source/validate';
import { AllowSettings } from './allow';
import { ApiSettings } from './api';
import { CommandSettings, HttpSettings, jsonText, ModuleSettings, Steps } from './processors';

export { HttpSettings };

const boolish = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

/** Source field renames, `{"Patient ID": "patient_id"}`: each target name at most once. */
const ColumnMapping = z
  .record(z.string().min(1), z.string().min(1))
  .refine(
    (m) => new Set(Object.values(m)).size === Object.values(m).length,
    'two columns are renamed to the same name',
  );

export const Config = z
  .strictObject({
    /** Processor of a one-step batch: http, command or module. Default http. */
    processor: z.enum(['http', 'command', 'module']).default('http'),
    http: HttpSettings.prefault({}),
    command: CommandSettings.optional(),
    module: ModuleSettings.optional(),
    /** A pipeline instead of one processor: `[{ name, processor, http|command|module, maxAttempts, ... }]`. */
    steps: Steps.optional(),
    /** A running item that stops heartbeating for this long is retried (worker died). Default 15000. */
    heartbeatTimeoutMs: z.coerce.number().int().min(1_000).max(3_600_000).default(15_000),
    /**
     * A cancelled item's work is told to stop (SIGTERM to a command's process group, the module's
     * `ctx.signal` aborted, the HTTP request aborted) and gets this long, in ms, before it is killed
     * (SIGKILL) or abandoned. Default 5000.
     */
    stopGraceMs: z.coerce.number().int().min(0).max(600_000).default(5_000),
    /** Column holding each item's unique key. Default: the row number. */
    idColumn: z.string().min(1).optional(),
    /** Source format: csv, jsonl, json, xlsx or dir. Default: from the extension (a directory is dir). */
    format: z.enum(SOURCE_FORMATS).optional(),
    /** CSV delimiter, one character (`\t` or `tab` for a tab). Default `,` (a tab for .tsv files). */
    delimiter: z
      .string()
      .transform((d) => (d === '\\t' || d.toLowerCase() === 'tab' ? '\t' : d))
      .pipe(z.string().length(1, 'must be one character'))
      .optional(),
    /** Renames source columns/fields before anything else sees them: `{"Patient ID": "patient_id"}`. */
    columns: jsonText(ColumnMapping).optional(),
    /** XLSX sheet name. Default: the first sheet. */
    sheet: z.string().min(1).optional(),
    /** Directory sources: only files whose relative path matches this glob (picomatch). Default: all files not starting with a dot. */
    glob: z.string().min(1).optional(),
    /** Directory sources: CSV/JSON/JSONL/XLSX file of per-file metadata joined to the files (JSON: an array of rows or an object keyed by file name). */
    metadata: z.string().min(1).optional(),
    /** Column of the metadata file naming each file (relative path or base name). Default `file`. */
    metadataKey: z.string().min(1).optional(),
    /**
     * Directory sources: also read symbolic links to files outside the directory. Default false: such
     * a link is staged as an invalid item naming it (skipped), and never read.
     */
    followSymlinks: boolish.default(false),
    /**
     * Only these rows become items: numbers and ranges as a spreadsheet shows them (the header is row
     * 1), e.g. `10-200` or `2,5,9-`. Default: all rows.
     */
    rows: z.string().min(1).optional(),
    /** Only the items with these keys: a comma-separated list, or a file with one key per line. Default: all. */
    keys: z.string().min(1).optional(),
    /**
     * Only rows where every condition holds: `field=value`, `field!=value`, `field>=n`, `field<=n`,
     * `field~regex` (numbers compare as numbers). One condition or a list. Default: none.
     */
    where: z
      .union([z.string().min(1), z.array(z.string().min(1))])
      .transform((w) => (typeof w === 'string' ? [w] : w))
      .optional(),
    /** At most this many items: the first rows selected. Default: no limit. */
    limit: z.coerce.number().int().min(1).optional(),
    /** Item schema: `{ required: [...], fields: { name: { type, pattern, min, max, enum } } }`. Default: none. */
    schema: jsonText(ItemSchemaSpec).optional(),
    /** XLSX sources: also write results/results.xlsx (the source workbook, every sheet, plus each row's status, attempts, error and output). Default true. */
    resultsWorkbook: boolish.default(true),
    /**
     * results.csv and failed.csv: write cells that start with `=`, `+`, `-`, `@`, a tab or a carriage
     * return as they are. Default false: such cells get a leading `'` so a spreadsheet shows them as
     * text instead of running them as formulas (CSV injection); plain numbers such as `-5` are kept.
     */
    csvFormulas: boolish.default(false),
    /** Refuse the whole source when any row is invalid (instead of skipping invalid rows). Default false. */
    strict: boolish.default(false),
    /**
     * Items per child workflow. 1 (default): one child per item, the most visible in the Web UI. N > 1:
     * one page child per N consecutive items, each item an activity in it: about 6× fewer history events
     * per item, for large batches. At most 1000. `auto`: 1 up to 1000 items, else 100.
     */
    itemsPerChild: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(1_000)]).default(1),
    /**
     * How a page child runs its items: `activity` (default), `local` (local activities: cheap, for
     * short calls; no heartbeats; a cancel reaches a running item within 2 s) or `runner` (the page's
     * items run inside heartbeating runner activities: no history event per item, for millions of
     * short calls; needs pages: itemsPerChild N > 1 or auto). With itemsPerChild 1 and `local`, each
     * item child runs its steps as local activities.
     */
    itemExecution: z.enum(['activity', 'local', 'runner']).default('activity'),
    /**
     * Items in flight at once, or `auto`: this machine's core count (for local commands such as
     * conversions, which each keep a core busy). Default 10, at most 1000.
     */
    concurrency: z
      .preprocess(
        (v) => (typeof v === 'string' && v.trim().toLowerCase() === 'auto' ? os.availableParallelism() : v),
        z.coerce.number().int().min(1).max(MAX_CONCURRENCY),
      )
      .default(10),
    /** Items started per second. Default: unpaced. */
    rate: z.coerce.number().positive().max(MAX_RATE).optional(),
    /** Attempts per item (first try included). Default 5. */
    maxAttempts: z.coerce.number().int().min(1).max(100).default(5),
    /** First retry delay in ms. Default 1000. */
    initialIntervalMs: z.coerce.number().int().min(1).default(1_000),
    /** Longest retry delay in ms. Default 30000. */
    maxIntervalMs: z.coerce.number().int().min(1).default(30_000),
    /** Retry delay growth factor. Default 2. */
    backoffCoefficient: z.coerce.number().min(1).max(10).default(2),
    /** End the batch at the first failed item. Default false. */
    failFast: boolish.default(false),
    /** End the batch as failed when more items than this failed. Default: no limit. */
    maxFailures: z.coerce.number().int().min(0).optional(),
    /** End the batch as failed when this percentage of finished items failed. Default: no limit. */
    maxFailureRate: z.coerce.number().min(0).max(100).optional(),
    /** Cost of one item (any unit: dollars, credits, tokens). Default: none. */
    costPerItem: z.coerce.number().min(0).optional(),
    /** Item field holding that item's cost (overrides costPerItem when present). Default: none. */
    costField: z.string().min(1).optional(),
    /** Pause the batch before the running cost would exceed this. Default: no budget. */
    budget: z.coerce.number().positive().optional(),
    /** Output directory. Default `output/<batchId>`. */
    outputDir: z.string().optional(),
    /** Batch id (also the parent workflow id). Default: `<source name>-<timestamp>`. */
    batchId: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/,
        'letters, digits, ".", "_" and "-" only, at most 100 characters',
      )
      .optional(),
    /** Level of durabatch's logs: trace, debug, info, warn, error, fatal or silent. Default info. */
    logLevel: z.enum(LOG_LEVELS).default('info'),
    /** Per-operation levels over logLevel, e.g. `{"processor": "debug", "source": "warn"}`. Default: none. */
    logLevels: z
      .strictObject({
        /** Reading and staging the source. */
        source: z.enum(LOG_LEVELS).optional(),
        /** Processor calls (http, command, module), per item and attempt. */
        processor: z.enum(LOG_LEVELS).optional(),
        /** Writing results, reports and failed.csv. */
        results: z.enum(LOG_LEVELS).optional(),
        /** The batch and item workflows' own logs. */
        workflow: z.enum(LOG_LEVELS).optional(),
        /** The worker process: connection, polling, shutdown. */
        worker: z.enum(LOG_LEVELS).optional(),
      })
      .optional(),
    /** Task queue of the durabatch workers. Default `durabatch`. */
    taskQueue: z.string().min(1).default('durabatch'),
    /** Home of the embedded server's database, staged sources and tools. Default `./.durabatch`. */
    home: z.string().default('.durabatch'),
    /**
     * What workers run, whoever started the batch: programs, module paths and http origins
     * (`durabatch worker`; `run` adds its own batch's). Default: nothing listed.
     */
    allow: AllowSettings.optional(),
    /** The batch service (`durabatch serve`): address, tokens, presets, upload limits. Default: see its fields. */
    api: ApiSettings.prefault({}),
  })
  .superRefine((c, ctx) => {
    // Settings that cannot work together, named by the field the user should change.
    if (c.itemExecution === 'runner' && c.itemsPerChild === 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['itemsPerChild'],
        message:
          'runner mode runs items inside pages: set itemsPerChild to auto (pages of 1000) or a page size from 2 to 1000, e.g. --items-per-child auto',
      });
    }
    const longest = Math.max(c.http.timeoutMs, c.command?.timeoutMs ?? 0, c.module?.timeoutMs ?? 0);
    if (c.itemExecution === 'local' && longest > 600_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['itemExecution'],
        message: `local items are for short calls: a timeout of ${longest} ms (over 10 minutes) needs itemExecution activity`,
      });
    }
  });

export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;

/** Where each setting came from, so errors can name the flag, variable or file. */
export type SettingSources = Partial<Record<string, string>>;

/**
 * Formats zod issues as one line per problem: who set the value (flag, environment variable or
 * file), the offending value and what is allowed, e.g. `flag --concurrency: 5000 is too big: at
 * most 1000`. `input` is the merged settings the schema saw (values are looked up there because
 * zod reports coerced ones); secrets in it are masked before anything is echoed.
 */
export function formatConfigIssues(error: z.ZodError, sources: SettingSources, input?: unknown): string {
  type Node = {
    _zod: { def: { innerType?: Node; in?: Node; out?: Node; element?: Node; shape?: Record<string, Node> } };
  };
  type Issue = z.core.$ZodIssue;
  const safe = maskSecrets(input);
  const valueAt = (path: PropertyKey[]): unknown =>
    path.reduce<unknown>(
      (v, k) => (v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined),
      safe,
    );
  const show = (v: unknown): string => {
    if (typeof v === 'string' && /^[\w.+:/-]+$/.test(v)) return v;
    const text = JSON.stringify(v) ?? String(v);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  };
  const from = (path: PropertyKey[]): string => {
    const field = path.map(String).join('.');
    // Values inside JSON text (a `steps` variable) have no source of their own: name the holder.
    for (let n = path.length; n > 0; n--) {
      const label = sources[path.slice(0, n).map(String).join('.')];
      if (label) return n === path.length ? label : `${label} (at ${field})`;
    }
    return `setting "${field}"`;
  };
  // The setting names valid at `path`, found by walking the schema through wrappers, pipes and arrays.
  const keysAt = (node: Node | undefined, path: PropertyKey[]): string[] => {
    const def = node?._zod.def;
    if (!def) return [];
    if (def.shape)
      return path.length === 0 ? Object.keys(def.shape) : keysAt(def.shape[String(path[0])], path.slice(1));
    if (def.element) return keysAt(def.element, path.slice(1));
    for (const next of [def.innerType, def.out, def.in]) {
      const keys = keysAt(next, path);
      if (keys.length > 0) return keys;
    }
    return [];
  };
  // A typo of a valid name: same letters ignoring case and separators, or one edit away.
  const similar = (a: string, b: string): boolean => {
    const [x, y] = [a, b].map((t) => t.toLowerCase().replace(/[-_]/g, '')) as [string, string];
    if (x === y) return true;
    if (Math.abs(x.length - y.length) > 1) return false;
    let i = 0;
    while (i < x.length && x[i] === y[i]) i++;
    return [
      x.slice(i + 1) === y.slice(i + 1),
      x.slice(i) === y.slice(i + 1),
      x.slice(i + 1) === y.slice(i),
    ].some(Boolean);
  };
  const describe = (issue: Issue, value: unknown): string => {
    const v = show(value);
    switch (issue.code) {
      case 'too_big': {
        const max = String(issue.maximum);
        if (issue.origin === 'string') return `${v} is too long: at most ${max} characters`;
        if (issue.origin === 'array') return `has too many entries: at most ${max}`;
        return `${v} is too big: ${issue.inclusive ? 'at most' : 'must be less than'} ${max}`;
      }
      case 'too_small': {
        const min = String(issue.minimum);
        if (issue.origin === 'string')
          return min === '1' ? 'must not be empty' : `${v} is too short: at least ${min} characters`;
        if (issue.origin === 'array') return `needs at least ${min} ${min === '1' ? 'entry' : 'entries'}`;
        return `${v} is too small: ${issue.inclusive ? 'at least' : 'must be more than'} ${min}`;
      }
      case 'invalid_value':
        return `${v} is not allowed: use one of ${issue.values.map(String).join(', ')}`;
      case 'invalid_type':
        if (value === undefined) return `missing: required (${issue.expected})`;
        return `${v} is not ${issue.expected === 'int' ? 'a whole number' : `a valid ${issue.expected}`}`;
      case 'invalid_union': {
        // A branch that got past the type check (a string with a shell operator) says the most.
        const typed = issue.errors.filter(
          (b) => !b.every((i) => i.path.length === 0 && i.code === 'invalid_type'),
        );
        if (typed.length === 1 && typed[0]?.[0]) return describe(typed[0][0], value);
        const allowed = new Set(
          issue.errors
            .flat()
            .flatMap((i) =>
              i.code === 'invalid_value'
                ? i.values.map(String)
                : i.code === 'invalid_type'
                  ? [i.expected]
                  : [],
            ),
        );
        if (allowed.has('boolean')) return `${v} is not allowed: use true or false`;
        return `${v} is not allowed: expected ${[...allowed].join(' or ')}`;
      }
      default:
        return value === undefined ? issue.message : `${v}: ${issue.message}`;
    }
  };
  return error.issues
    .flatMap((issue) => {
      if (issue.code !== 'unrecognized_keys')
        return [`${from(issue.path)}: ${describe(issue, valueAt(issue.path))}`];
      const valid = keysAt(Config as unknown as Node, issue.path);
      const where = issue.path.length > 0 ? ` in "${issue.path.map(String).join('.')}"` : '';
      return issue.keys.map((key) => {
        const near = valid.find((name) => similar(key, name));
        const hint = near ? ` (did you mean "${near}"?)` : '';
        return `${from([...issue.path, key])}: unknown setting${hint}; valid settings${where}: ${valid.join(', ')}`;
      });
    })
    .join('\n');
}

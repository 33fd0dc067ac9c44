// durabatch's settings: one zod schema, each field documented with its default. Booleans are parsed
// explicitly ("true"/"false"), never coerced, so "false" never means true.
import { z } from 'zod';
import { MAX_CONCURRENCY } from '../../workflows/messages';
import { SOURCE_FORMATS } from '../source/types';
import { ItemSchemaSpec } from '../source/validate';
import { CommandSettings, HttpSettings, jsonText, ModuleSettings, Steps } from './processors';

export { HttpSettings };

const boolish = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

/** Source field renames, `{"Patient ID": "patient_id"}`: each target name at most once. */
const ColumnMapping = z
  .record(z.string().min(1), z.string().min(1))
  .refine((m) => new Set(Object.values(m)).size === Object.values(m).length, 'two columns are renamed to the same name');

export const Config = z.strictObject({
  /** Processor of a one-step batch: http, command or module. Default http. */
  processor: z.enum(['http', 'command', 'module']).default('http'),
  http: HttpSettings.prefault({}),
  command: CommandSettings.optional(),
  module: ModuleSettings.optional(),
  /** A pipeline instead of one processor: `[{ name, processor, http|command|module, maxAttempts, ... }]`. */
  steps: Steps.optional(),
  /** A running item that stops heartbeating for this long is retried (worker died). Default 15000. */
  heartbeatTimeoutMs: z.coerce.number().int().min(1_000).max(3_600_000).default(15_000),
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
  /** Directory sources: CSV/JSON/JSONL/XLSX file of per-file metadata joined to the files. */
  metadata: z.string().min(1).optional(),
  /** Column of the metadata file naming each file (relative path or base name). Default `file`. */
  metadataKey: z.string().min(1).optional(),
  /** Item schema: `{ required: [...], fields: { name: { type, pattern, min, max, enum } } }`. Default: none. */
  schema: jsonText(ItemSchemaSpec).optional(),
  /** XLSX sources: also write results/results.xlsx (the original rows plus status, attempts, error). Default true. */
  resultsWorkbook: boolish.default(true),
  /** Refuse the whole source when any row is invalid (instead of skipping invalid rows). Default false. */
  strict: boolish.default(false),
  /** Items in flight at once. Default 10, at most 1000. */
  concurrency: z.coerce.number().int().min(1).max(MAX_CONCURRENCY).default(10),
  /** Items started per second. Default: unpaced. */
  rate: z.coerce.number().positive().max(10_000).optional(),
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
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, ".", "_" and "-" only, at most 100 characters')
    .optional(),
  /** Task queue of the durabatch workers. Default `durabatch`. */
  taskQueue: z.string().min(1).default('durabatch'),
  /** Home of the embedded server's database, staged sources and tools. Default `./.durabatch`. */
  home: z.string().default('.durabatch'),
});
export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;

/** Where each setting came from, so errors can name the flag, variable or file. */
export type SettingSources = Partial<Record<string, string>>;

/** Formats zod issues as one line per field, naming the flag or source that set it. */
export function formatConfigIssues(error: z.ZodError, sources: SettingSources): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.join('.');
      const from = sources[field] ?? `setting "${field}"`;
      return `${from}: ${issue.message}`;
    })
    .join('\n');
}

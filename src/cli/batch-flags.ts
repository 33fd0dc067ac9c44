// The batch flags, written once. Each entry is keyed by the flag's name as commander reads it
// (`targetCa` is `--target-ca`) and names the setting it sets as a path the compiler checks against
// Config. The options of run/start/plan/config and retry-failed, the flag → setting mapping, the
// flag names in validation errors and the Flag column of docs/configuration.md all derive from it;
// environment variable names derive from the same setting paths (envName in src/config/load.ts).
// Loaded by `durabatch --help`: type-only imports of the schema, no zod.
import type { FlagSpec, SettingPath } from './flag-spec';

export type { FlagParser, FlagSpec, SettingPath } from './flag-spec';

/** In the order `--help` lists them, after `--config`. */
export const BATCH_FLAGS = {
  processor: {
    field: 'processor',
    arg: '<type>',
    help: 'processor: http|command|module (default http; command/module implied by --command/--module)',
    retry: 'http|command|module: a different kind of processor (give all its settings)',
  },
  url: {
    field: 'http.url',
    arg: '<template>',
    help: 'URL template (RFC 6570), e.g. http://host/patients/{patient_id}',
    retry: 'URL template instead of the old one',
  },
  method: {
    field: 'http.method',
    arg: '<method>',
    help: 'HTTP method (default POST)',
    retry: 'HTTP method instead of the old one',
  },
  header: {
    field: 'http.headers',
    arg: '<name:value>',
    repeat: true,
    parse: 'headers',
    help: 'request header, repeatable; values may use ${env:NAME}',
    retry: 'add or replace a request header, repeatable',
  },
  body: {
    field: 'http.body',
    arg: '<json>',
    help: 'JSON body template with {field} placeholders (default: the row as JSON)',
    retry: 'JSON body template instead of the old one',
  },
  bodyMode: {
    field: 'http.bodyMode',
    arg: '<mode>',
    help: 'json (default), raw (the item file as body) or multipart (file + fields)',
    retry: 'json, raw or multipart',
  },
  fileField: {
    field: 'http.fileField',
    arg: '<name>',
    help: 'multipart form field of the file (default file)',
    retry: 'multipart form field of the file',
  },
  clientCert: {
    field: 'http.clientCert',
    arg: '<pem>',
    help: 'mutual TLS to the target: client certificate file (with --client-key)',
  },
  clientKey: {
    field: 'http.clientKey',
    arg: '<pem>',
    help: "mutual TLS to the target: the certificate's private key file",
  },
  clientKeyPassphrase: {
    field: 'http.clientKeyPassphrase',
    arg: '<ref>',
    help: 'passphrase of an encrypted key, as ${env:NAME} (read by the worker)',
  },
  targetCa: {
    field: 'http.ca',
    arg: '<pem>',
    help: "CA certificates to trust for the target instead of the system's",
  },
  costFrom: {
    field: 'http.costFrom',
    arg: '<where>',
    help: "the item's cost in the http answer: a JSON pointer (/usage/cost) or header:<name> (header:X-Cost)",
  },
  connections: {
    field: 'http.connections',
    arg: '<n>',
    help: 'connections per target host on one worker (default 64)',
    retry: 'connections per target host on one worker',
  },
  maxResponseBytes: {
    field: 'http.maxResponseBytes',
    arg: '<bytes>',
    help: 'largest body of a successful http answer, after decompression (default 10485760)',
    retry: 'largest body of a successful http answer, after decompression',
  },
  command: {
    field: 'command.argv',
    arg: '<line>',
    help: 'command per item, never run through a shell: "convert {path} {documents}/out.png"',
    retry: 'command per item instead of the old one',
  },
  cwd: {
    field: 'command.cwd',
    arg: '<dir>',
    help: 'working directory of --command',
    retry: 'working directory of the command',
  },
  allowOptionValues: {
    field: 'command.allowOptionValues',
    arg: '<fields>',
    help: 'fields whose values may start a --command argument with "-" (an option): f1,f2 or true',
    retry: 'fields whose values may start a command argument with "-"',
  },
  allowRemoteValues: {
    field: 'command.allowRemoteValues',
    help: "item values may reach ssh's remote command and scp/rsync host: paths (a remote shell parses them)",
  },
  module: {
    field: 'module.path',
    arg: '<file>',
    help: 'JS/TS module whose default export is async function process(item, ctx)',
    retry: 'module processor file instead of the old one',
  },
  timeout: {
    field: ['http.timeoutMs', 'command.timeoutMs', 'module.timeoutMs'],
    arg: '<duration>',
    parse: 'duration',
    help: 'per-attempt timeout: ms, or with s/m suffix (default 30s http, 5m command/module)',
    retry: 'per-attempt timeout: ms, or with s/m suffix',
  },
  heartbeatTimeout: {
    field: 'heartbeatTimeoutMs',
    arg: '<duration>',
    parse: 'duration',
    help: 'retry a running item elsewhere after this long without heartbeat (default 15s)',
    retry: 'retry a running item elsewhere after this long without heartbeat',
  },
  itemsPerChild: {
    field: 'itemsPerChild',
    arg: '<n>',
    help: 'items per child workflow: 1 = one per item (default, most visible); N = pages of N items (large batches)',
  },
  itemExecution: {
    field: 'itemExecution',
    arg: '<mode>',
    help: 'page mode: activity (default), local (local activities, for short calls) or runner (items inside heartbeating runner activities, fastest; needs --items-per-child N or auto)',
  },
  stopGrace: {
    field: 'stopGraceMs',
    arg: '<duration>',
    parse: 'duration',
    help: "a cancelled item's work gets this long to stop before it is killed or abandoned (default 5s)",
  },
  idColumn: {
    field: 'idColumn',
    arg: '<name>',
    help: "column holding each item's unique key (default: row number)",
  },
  delimiter: {
    field: 'delimiter',
    arg: '<char>',
    help: 'CSV delimiter, or "tab" (default , and a tab for .tsv)',
  },
  format: {
    field: 'format',
    arg: '<format>',
    help: 'source format: csv|jsonl|json|xlsx|dir (default: from the extension)',
  },
  sheet: { field: 'sheet', arg: '<name>', help: 'XLSX sheet to read (default: the first)' },
  columns: {
    field: 'columns',
    arg: '<json>',
    help: 'rename source columns, e.g. \'{"Patient ID":"patient_id"}\'',
  },
  glob: { field: 'glob', arg: '<pattern>', help: "directory sources: only files matching, e.g. '**/*.pdf'" },
  followSymlinks: {
    field: 'followSymlinks',
    help: 'directory sources: also read links to files outside the directory (default: refused)',
  },
  metadata: {
    field: 'metadata',
    arg: '<file>',
    help: 'directory sources: CSV/JSON file of per-file metadata',
  },
  metadataKey: {
    field: 'metadataKey',
    arg: '<column>',
    help: 'metadata column naming the file (default file)',
  },
  rows: {
    field: 'rows',
    arg: '<ranges>',
    help: 'only these rows, numbered as a spreadsheet shows them: 10-200, 2,5,9-',
  },
  keys: {
    field: 'keys',
    arg: '<list|file>',
    help: 'only these item keys: a comma-separated list, or a file of one key per line',
  },
  where: {
    field: 'where',
    arg: '<condition>',
    repeat: true,
    help: 'only rows where field=value, field!=value, field>=n, field<=n or field~regex (repeat: all must hold)',
  },
  limit: { field: 'limit', arg: '<n>', help: 'at most n items: the first rows selected' },
  schema: {
    field: 'schema',
    arg: '<json|file>',
    parse: 'jsonOrFile',
    help: 'item schema (JSON text or a JSON file): required fields and per-field checks',
  },
  csvFormulas: {
    field: 'csvFormulas',
    help: "results.csv/failed.csv: keep cells starting with = + - @ as they are (default: prefixed with ' so spreadsheets do not run them)",
  },
  strict: {
    field: 'strict',
    help: 'refuse the batch if any row is invalid (default: invalid rows are skipped)',
  },
  concurrency: {
    field: 'concurrency',
    arg: '<n>',
    help: "items in flight at once, 1..1000, or auto (this machine's cores; default 10)",
    retry: 'items in flight at once, 1..1000',
  },
  rate: {
    field: 'rate',
    arg: '<items/s>',
    help: 'start at most this many items per second (default: unpaced)',
    retry: 'start at most this many items per second',
  },
  maxAttempts: {
    field: 'maxAttempts',
    arg: '<n>',
    help: 'attempts per item, first try included (default 5)',
    retry: 'attempts per item, first try included',
  },
  failFast: { field: 'failFast', help: 'end the batch at the first failed item', retry: true },
  maxFailures: {
    field: 'maxFailures',
    arg: '<n>',
    help: 'end the batch as failed when more than n items failed',
    retry: true,
  },
  maxFailureRate: {
    field: 'maxFailureRate',
    arg: '<percent>',
    help: 'end the batch as failed above this failure percentage',
    retry: true,
  },
  costPerItem: {
    field: 'costPerItem',
    arg: '<n>',
    help: 'cost of one item, for plan estimates, statistics and --budget',
  },
  costField: {
    field: 'costField',
    arg: '<column>',
    help: "item field holding that item's cost (overrides --cost-per-item)",
  },
  budget: { field: 'budget', arg: '<n>', help: 'pause the batch before its running cost would exceed this' },
  outputDir: {
    field: 'outputDir',
    arg: '<dir>',
    help: 'where results, logs and reports go (default output/<batchId>)',
    retry: 'output directory of the new batch (default output/<new id>)',
  },
  batchId: {
    field: 'batchId',
    arg: '<id>',
    help: 'batch id (default <source name>-<timestamp>)',
    retry: 'id of the new batch (default <old id>-retry-<timestamp>)',
  },
  taskQueue: {
    field: 'taskQueue',
    arg: '<name>',
    help: 'task queue of the workers (default durabatch)',
    retry: "task queue of the new batch (default: the old batch's)",
  },
} as const satisfies Record<string, FlagSpec>;

/**
 * Settings no flag sets: structured, or tuned once per deployment; a config file or a DURABATCH_*
 * variable sets them. With the table, this accounts for every setting (checked below).
 */
export const SETTINGS_WITHOUT_FLAG = [
  'steps',
  'command.env',
  'command.successExitCodes',
  'command.retryableExitCodes',
  'initialIntervalMs',
  'maxIntervalMs',
  'backoffCoefficient',
  'resultsWorkbook',
  'logLevel',
  'logLevels.source',
  'logLevels.processor',
  'logLevels.results',
  'logLevels.workflow',
  'logLevels.worker',
  'home',
  // A worker's settings: `durabatch worker --allow-command/--allow-module/--allow-origin/--allow-path/--allow-env`.
  'allow.commands',
  'allow.modules',
  'allow.origins',
  'allow.paths',
  'allow.env',
  // The batch service's settings: `durabatch serve --host/--port/--token-file/--worker` set the
  // common ones; presets and limits are deployment configuration.
  'api.host',
  'api.port',
  'api.tokens',
  'api.tokenFile',
  'api.presets',
  'api.sourceRoots',
  'api.uploadsDir',
  'api.outputRoot',
  'api.maxFiles',
  'api.maxUploadBytes',
  'api.maxBodyBytes',
  'api.rateLimitPerMinute',
  'api.idleTimeoutMs',
  'api.maxEventStreams',
  'api.corsOrigins',
  'api.statusCacheMs',
  'api.worker',
] as const satisfies readonly SettingPath[];

type Table = typeof BATCH_FLAGS;
export type FlagKey = keyof Table;
type FieldsOf<F> = F extends readonly (infer P)[] ? P : F;
type FlaggedSetting = { [K in FlagKey]: FieldsOf<Table[K]['field']> }[FlagKey];
type Unaccounted = Exclude<SettingPath, FlaggedSetting | (typeof SETTINGS_WITHOUT_FLAG)[number]>;
/** Fails to compile, naming the setting, when a setting has neither a flag nor a place in the list. */
export const EVERY_SETTING_ACCOUNTED_FOR: [Unaccounted] extends [never]
  ? true
  : { 'add a flag or list in SETTINGS_WITHOUT_FLAG': Unaccounted } = true;

type FlagValue<S> = S extends { repeat: true } ? string[] : S extends { arg: string } ? string : boolean;
/** The flags as commander parses them (text, lists of text, switches), plus `--config`. */
export type BatchFlags = { config?: string } & { -readonly [K in FlagKey]?: FlagValue<Table[K]> };

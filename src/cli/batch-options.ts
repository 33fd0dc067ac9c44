// Flags shared by commands that define a batch (run, start, plan), mapped onto the config schema.
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load';
import type { Config } from '../config/schema';
import { parseDuration, parseHeaders, schemaText } from './flag-values';

/** How settings combine, strongest first (shown by `durabatch config`). */
export const CONFIG_PRECEDENCE = 'flags > DURABATCH_* environment > config file > defaults';

export interface BatchFlags {
  config?: string;
  processor?: string;
  url?: string;
  method?: string;
  header?: string[];
  body?: string;
  timeout?: string;
  bodyMode?: string;
  fileField?: string;
  costFrom?: string;
  clientCert?: string;
  clientKey?: string;
  clientKeyPassphrase?: string;
  targetCa?: string;
  connections?: string;
  command?: string;
  cwd?: string;
  module?: string;
  heartbeatTimeout?: string;
  stopGrace?: string;
  itemsPerChild?: string;
  itemExecution?: string;
  costPerItem?: string;
  costField?: string;
  budget?: string;
  idColumn?: string;
  delimiter?: string;
  format?: string;
  sheet?: string;
  columns?: string;
  glob?: string;
  metadata?: string;
  metadataKey?: string;
  rows?: string;
  keys?: string;
  where?: string[];
  limit?: string;
  schema?: string;
  strict?: boolean;
  concurrency?: string;
  rate?: string;
  maxAttempts?: string;
  failFast?: boolean;
  maxFailures?: string;
  maxFailureRate?: string;
  outputDir?: string;
  batchId?: string;
  taskQueue?: string;
}

const FLAG_NAMES: Record<string, string> = {
  processor: '--processor',
  'http.url': '--url',
  'http.method': '--method',
  'http.headers': '--header',
  'http.body': '--body',
  'http.timeoutMs': '--timeout',
  idColumn: '--id-column',
  rows: '--rows',
  keys: '--keys',
  where: '--where',
  limit: '--limit',
  delimiter: '--delimiter',
  format: '--format',
  sheet: '--sheet',
  columns: '--columns',
  glob: '--glob',
  metadata: '--metadata',
  metadataKey: '--metadata-key',
  schema: '--schema',
  strict: '--strict',
  concurrency: '--concurrency',
  rate: '--rate',
  maxAttempts: '--max-attempts',
  failFast: '--fail-fast',
  maxFailures: '--max-failures',
  maxFailureRate: '--max-failure-rate',
  outputDir: '--output-dir',
  batchId: '--batch-id',
  taskQueue: '--task-queue',
  'http.bodyMode': '--body-mode',
  'http.fileField': '--file-field',
  'http.costFrom': '--cost-from',
  'http.clientCert': '--client-cert',
  'http.clientKey': '--client-key',
  'http.clientKeyPassphrase': '--client-key-passphrase',
  'http.ca': '--target-ca',
  'http.connections': '--connections',
  'command.argv': '--command',
  'command.cwd': '--cwd',
  'command.timeoutMs': '--timeout',
  'module.path': '--module',
  'module.timeoutMs': '--timeout',
  heartbeatTimeoutMs: '--heartbeat-timeout',
  stopGraceMs: '--stop-grace',
  itemsPerChild: '--items-per-child',
  itemExecution: '--item-execution',
  costPerItem: '--cost-per-item',
  costField: '--cost-field',
  budget: '--budget',
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function addBatchOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON config file (flags > DURABATCH_* env > file > defaults)')
    .option(
      '--processor <type>',
      'processor: http|command|module (default http; command/module implied by --command/--module)',
    )
    .option('--url <template>', 'URL template (RFC 6570), e.g. http://host/patients/{patient_id}')
    .option('--method <method>', 'HTTP method (default POST)')
    .option('--header <name:value>', 'request header, repeatable; values may use ${env:NAME}', collect)
    .option('--body <json>', 'JSON body template with {field} placeholders (default: the row as JSON)')
    .option('--body-mode <mode>', 'json (default), raw (the item file as body) or multipart (file + fields)')
    .option('--file-field <name>', 'multipart form field of the file (default file)')
    .option('--client-cert <pem>', 'mutual TLS to the target: client certificate file (with --client-key)')
    .option('--client-key <pem>', "mutual TLS to the target: the certificate's private key file")
    .option(
      '--client-key-passphrase <ref>',
      'passphrase of an encrypted key, as ${env:NAME} (read by the worker)',
    )
    .option('--target-ca <pem>', "CA certificates to trust for the target instead of the system's")
    .option(
      '--cost-from <where>',
      "the item's cost in the http answer: a JSON pointer (/usage/cost) or header:<name> (header:X-Cost)",
    )
    .option('--connections <n>', 'connections per target host on one worker (default 64)')
    .option(
      '--command <line>',
      'command per item, never run through a shell: "convert {path} {documents}/out.png"',
    )
    .option('--cwd <dir>', 'working directory of --command')
    .option('--module <file>', 'JS/TS module whose default export is async function process(item, ctx)')
    .option(
      '--timeout <duration>',
      'per-attempt timeout: ms, or with s/m suffix (default 30s http, 5m command/module)',
    )
    .option(
      '--heartbeat-timeout <duration>',
      'retry a running item elsewhere after this long without heartbeat (default 15s)',
    )
    .option(
      '--items-per-child <n>',
      'items per child workflow: 1 = one per item (default, most visible); N = pages of N items (large batches)',
    )
    .option(
      '--item-execution <mode>',
      'page mode: activity (default) or local (local activities, cheapest, for short calls)',
    )
    .option(
      '--stop-grace <duration>',
      "a cancelled item's work gets this long to stop before it is killed or abandoned (default 5s)",
    )
    .option('--id-column <name>', "column holding each item's unique key (default: row number)")
    .option('--delimiter <char>', 'CSV delimiter, or "tab" (default , and a tab for .tsv)')
    .option('--format <format>', 'source format: csv|jsonl|json|xlsx|dir (default: from the extension)')
    .option('--sheet <name>', 'XLSX sheet to read (default: the first)')
    .option('--columns <json>', 'rename source columns, e.g. \'{"Patient ID":"patient_id"}\'')
    .option('--glob <pattern>', "directory sources: only files matching, e.g. '**/*.pdf'")
    .option('--metadata <file>', 'directory sources: CSV/JSON file of per-file metadata')
    .option('--metadata-key <column>', 'metadata column naming the file (default file)')
    .option('--rows <ranges>', 'only these rows, numbered as a spreadsheet shows them: 10-200, 2,5,9-')
    .option(
      '--keys <list|file>',
      'only these item keys: a comma-separated list, or a file of one key per line',
    )
    .option(
      '--where <condition>',
      'only rows where field=value, field!=value, field>=n, field<=n or field~regex (repeat: all must hold)',
      collect,
    )
    .option('--limit <n>', 'at most n items: the first rows selected')
    .option(
      '--schema <json|file>',
      'item schema (JSON text or a JSON file): required fields and per-field checks',
    )
    .option('--strict', 'refuse the batch if any row is invalid (default: invalid rows are skipped)')
    .option(
      '--concurrency <n>',
      "items in flight at once, 1..1000, or auto (this machine's cores; default 10)",
    )
    .option('--rate <items/s>', 'start at most this many items per second (default: unpaced)')
    .option('--max-attempts <n>', 'attempts per item, first try included (default 5)')
    .option('--fail-fast', 'end the batch at the first failed item')
    .option('--max-failures <n>', 'end the batch as failed when more than n items failed')
    .option('--max-failure-rate <percent>', 'end the batch as failed above this failure percentage')
    .option('--cost-per-item <n>', 'cost of one item, for plan estimates, statistics and --budget')
    .option('--cost-field <column>', "item field holding that item's cost (overrides --cost-per-item)")
    .option('--budget <n>', 'pause the batch before its running cost would exceed this')
    .option('--output-dir <dir>', 'where results, logs and reports go (default output/<batchId>)')
    .option('--batch-id <id>', 'batch id (default <source name>-<timestamp>)')
    .option('--task-queue <name>', 'task queue of the workers (default durabatch)');
}

/** The batch's settings from flags, environment and config file, with where each value came from. */
export async function loadBatchConfig(
  flags: BatchFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedConfig> {
  const timeoutMs = flags.timeout === undefined ? undefined : parseDuration(flags.timeout, '--timeout');
  const processor = flags.processor ?? (flags.command ? 'command' : flags.module ? 'module' : undefined);
  const kind = processor ?? 'http';
  const defined = (o: Record<string, unknown>) =>
    Object.values(o).some((v) => v !== undefined) ? o : undefined;
  const http = defined({
    url: flags.url,
    method: flags.method,
    headers: parseHeaders(flags.header),
    body: flags.body,
    bodyMode: flags.bodyMode,
    fileField: flags.fileField,
    costFrom: flags.costFrom,
    clientCert: flags.clientCert,
    clientKey: flags.clientKey,
    clientKeyPassphrase: flags.clientKeyPassphrase,
    ca: flags.targetCa,
    connections: flags.connections,
    timeoutMs: kind === 'http' ? timeoutMs : undefined,
  });
  const command = defined({
    argv: flags.command,
    cwd: flags.cwd,
    timeoutMs: kind === 'command' ? timeoutMs : undefined,
  });
  const module = defined({ path: flags.module, timeoutMs: kind === 'module' ? timeoutMs : undefined });
  const values: Record<string, unknown> = {
    processor,
    http,
    command,
    module,
    heartbeatTimeoutMs:
      flags.heartbeatTimeout === undefined
        ? undefined
        : parseDuration(flags.heartbeatTimeout, '--heartbeat-timeout'),
    stopGraceMs: flags.stopGrace === undefined ? undefined : parseDuration(flags.stopGrace, '--stop-grace'),
    itemsPerChild: flags.itemsPerChild,
    itemExecution: flags.itemExecution,
    idColumn: flags.idColumn,
    delimiter: flags.delimiter,
    format: flags.format,
    sheet: flags.sheet,
    columns: flags.columns,
    glob: flags.glob,
    metadata: flags.metadata,
    metadataKey: flags.metadataKey,
    rows: flags.rows,
    keys: flags.keys,
    where: flags.where,
    limit: flags.limit,
    schema: await schemaText(flags.schema),
    strict: flags.strict,
    concurrency: flags.concurrency,
    rate: flags.rate,
    maxAttempts: flags.maxAttempts,
    failFast: flags.failFast,
    maxFailures: flags.maxFailures,
    maxFailureRate: flags.maxFailureRate,
    outputDir: flags.outputDir,
    batchId: flags.batchId,
    taskQueue: flags.taskQueue,
    costPerItem: flags.costPerItem,
    costField: flags.costField,
    budget: flags.budget,
  };
  // The schema (zod) loads only when a batch is being defined, not for `--help`.
  const { loadConfig } = await import('../config/load');
  return loadConfig({ file: flags.config, env, flags: values, flagNames: FLAG_NAMES });
}

export async function resolveBatchConfig(
  flags: BatchFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Config> {
  return (await loadBatchConfig(flags, env)).config;
}

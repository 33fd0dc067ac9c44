// Data shapes shared by the workflows, activities and the client. Type declarations only: this file
// is bundled into the workflow sandbox, so it must stay free of runtime imports.

/** One item of a batch as read from a staged source page. */
export interface Item {
  /** 0-based position in the source. */
  index: number;
  /** Stable, unique key (the id column, else the row number). */
  key: string;
  /** 1-based line of the source where the item starts (for error messages). */
  line: number;
  /** The row's fields, as read. */
  data: Record<string, unknown>;
  /** Why the row cannot be processed (failed validation, unparsable, too large): it becomes `skipped`. */
  invalid?: string;
  /**
   * Directory sources: the directory the item's file (`data.path`) was staged from. Only items
   * with it have a file a processor may read (raw/multipart uploads): a CSV's `path` column is data,
   * never a file to send. Without --follow-symlinks the file must still resolve inside it when a
   * worker reads it; checked again there, since a file can be swapped for a link after staging.
   */
  within?: string;
  /** Directory sources staged with --follow-symlinks: the file may be a link to anywhere. */
  followsLinks?: true;
}

/** Where a staged source lives; workers read pages from it by index. */
export interface StagedSourceRef {
  /** Directory under DURABATCH_HOME holding items.jsonl, index.json and manifest.json. */
  dir: string;
  /** sha256 of the original source, to detect a source edited mid-batch. */
  fingerprint: string;
  /** Original path, for messages. */
  originalPath: string;
  total: number;
}

/** Temporal retry policy subset that a batch exposes (durations in milliseconds). */
export interface ItemRetryPolicy {
  maxAttempts: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
  backoffCoefficient: number;
  nonRetryableErrorTypes?: string[];
  /** A running item that has not heartbeated for this long is retried elsewhere (default 15 s). */
  heartbeatTimeoutMs?: number;
  /**
   * A cancelled item's work is told to stop (SIGTERM to a command's process group, the module's
   * `ctx.signal` aborted, the HTTP request aborted) and gets this long before it is killed (SIGKILL)
   * or abandoned (default 5 s).
   */
  stopGraceMs?: number;
}

/** The http processor's settings. Header values may hold `${env:NAME}` references, resolved on the worker. */
export interface HttpProcessorSpec {
  type: 'http';
  url: string;
  method: string;
  headers: Record<string, string>;
  /** JSON body template; `{field}` placeholders are filled from the item. Absent: the item's data. */
  body?: string;
  /**
   * How the body is sent: `json` (default), `raw` (the item's file streamed as the body) or
   * `multipart` (the file plus the item's other fields as form fields). `raw`/`multipart` need a
   * directory source (the item's `path`).
   */
  bodyMode?: 'json' | 'raw' | 'multipart';
  /** Form field name of the file in multipart mode (default `file`). */
  fileField?: string;
  /** Connections per target host on one worker (default 64). */
  connections?: number;
  timeoutMs: number;
  /** The item's cost in a successful answer: a JSON pointer into the body, or `header:<name>`. */
  costFrom?: string;
  /**
   * Cap of a successful answer's body in bytes, counted after decompression (default 10 MiB);
   * past it the attempt fails with ResponseTooLarge. Absent in batches started before it existed.
   */
  maxResponseBytes?: number;
  /** Mutual TLS to the target: absolute paths of PEM files; the passphrase may be `${env:NAME}`. */
  tls?: { cert?: string; key?: string; passphrase?: string; ca?: string };
}

/** The command processor: an argv template run without a shell. */
export interface CommandProcessorSpec {
  type: 'command';
  /** argv[0] is the program; `{field}` placeholders are filled per argument, never through a shell. */
  argv: string[];
  cwd?: string;
  /** Extra environment; values may hold `${env:NAME}` references resolved on the worker. */
  env?: Record<string, string>;
  timeoutMs: number;
  /** Exit codes meaning success (default [0]). */
  successExitCodes?: number[];
  /** Exit codes worth retrying (default [75], EX_TEMPFAIL); any other code fails the item at once. */
  retryableExitCodes?: number[];
  /**
   * Item values may start an argument with `-` (an option of the program): `true` for any field, or
   * the fields that may. Default: none (such an item fails as InputError).
   */
  allowOptionValues?: boolean | string[];
  /** Item values may reach ssh's remote command and scp/rsync `host:` paths (default: refused). */
  allowRemoteValues?: boolean;
}

/** The module processor: `export default async function process(item, ctx)` from the user's file. */
export interface ModuleProcessorSpec {
  type: 'module';
  /** Absolute path of the JS/TS module, loaded by the worker. */
  module: string;
  timeoutMs: number;
}

export type ProcessorSpec = HttpProcessorSpec | CommandProcessorSpec | ModuleProcessorSpec;

/** One step of a pipeline: a processor with its own retry policy and timeout. */
export interface StepSpec {
  /** Step name, unique in the pipeline; later steps read `{steps.<name>.…}`. */
  name: string;
  processor: ProcessorSpec;
  /** Overrides of the batch retry policy for this step. */
  retry?: Partial<ItemRetryPolicy>;
  /** Log level of this step's activity logs (default: the worker's). */
  logLevel?: string;
}

/** What a finished step hands to later steps and to the item's outcome (bounded). */
export interface StepResult {
  name: string;
  attempt: number;
  latencyMs: number;
  httpStatus?: number;
  /** Parsed JSON response body (http), parsed stdout JSON (command) or the returned value (module); bounded. */
  body?: unknown;
  /** Text excerpt of the output. */
  output?: string;
  /** Files the step produced (relative to the output directory). */
  files?: string[];
  cost?: number;
}

export interface FailurePolicy {
  failFast: boolean;
  /** End the batch as failed once more than this many items failed. */
  maxFailures?: number;
  /** End the batch as failed once the failure percentage exceeds this (checked after minItems finished). */
  maxFailureRate?: number;
}

export interface Limits {
  concurrency: number;
  /** Items started per second; undefined = unpaced. */
  rate?: number;
  /** Pause before the running cost would exceed this; undefined = no budget. */
  budget?: number;
}

/** How an item's cost is known: reported by the processor, else an item field, else a constant. */
export interface CostPolicy {
  perItem?: number;
  field?: string;
}

export type ItemStatus = 'succeeded' | 'failed' | 'skipped' | 'cancelled';

/** What a child reports to its parent: bounded in size whatever the processor returned. */
export interface ItemOutcome {
  index: number;
  key: string;
  status: ItemStatus;
  attempts: number;
  latencyMs: number;
  startedAt: string;
  endedAt: string;
  errorType?: string;
  errorMessage?: string;
  httpStatus?: number;
  cost?: number;
  /** Short excerpt of the processor's output. */
  output?: string;
  /** Per-step attempts and latency, for pipelines. */
  steps?: { name: string; attempts: number; latencyMs: number }[];
  /** The pipeline step that failed or was cancelled. */
  failedStep?: string;
  /**
   * Files the item produced (its documents folder, relative to the output directory): the first
   * MAX_OUTCOME_FILES; `filesTotal` says how many there were when there were more.
   */
  files?: string[];
  filesTotal?: number;
}

export type BatchStatus =
  'running' | 'paused' | 'cancelling' | 'completed' | 'partial_failure' | 'failed' | 'cancelled';

export interface LatencySummary {
  avg: number;
  p50: number;
  p95: number;
  p99: number;
}

/** The `status --json` object (docs/cli.md lists its fields, a public contract). */
export interface BatchProgress {
  batchId: string;
  status: BatchStatus;
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  cancelled: number;
  running: number;
  pending: number;
  percent: number;
  throughputPerMinute: number;
  latencyMs: LatencySummary;
  /** Latency per pipeline step (pipelines only). */
  stepLatencyMs?: Record<string, LatencySummary>;
  errorRate: number;
  etaSeconds: number | null;
  cost: number;
  /** The cost budget, if any. */
  budget: number | null;
  startedAt: string;
  endedAt: string | null;
  outputDir: string;
  webUiUrl: string | null;
  concurrency: number;
  rate: number | null;
  runNumber: number;
  errorsByType: Record<string, number>;
  statusReason?: string;
  /**
   * Only while paused: whether the pause is acknowledged, i.e. no item starts any more (every page
   * child has seen it; in per-item mode at once), and the page children that have not (the first 20).
   */
  pauseAcknowledged?: boolean;
  pauseUnacknowledgedBy?: string[];
}

export interface FailureRecord {
  key: string;
  index: number;
  errorType: string;
  errorMessage: string;
  attempts: number;
  at: string;
}

/**
 * An audit entry recorded by the batch workflow, whoever sent the message. The activity that writes
 * it looks the sender's identity up in the workflow's history (`sender`), where every Temporal client
 * (durabatch CLI, Web UI, temporal CLI, SDKs) leaves its identity.
 */
export interface AuditDraft {
  /** pause, resume, set, cancel. */
  action: string;
  /** Workflow time of the action. */
  at: string;
  args?: Record<string, unknown>;
  /** The actor when the batch itself acted (`budget`, `worker`, `source`). */
  by?: string;
  /** Where the sender's identity is in history: a signal's name, an update's id, a cancel request. */
  sender?: { kind: 'signal'; name: string } | { kind: 'update'; updateId: string } | { kind: 'cancel' };
  /** Unique per batch: a retried write skips entries already written. */
  seq: number;
}

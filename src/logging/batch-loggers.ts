// Loggers of one batch on a worker: every line goes where the worker's logger writes (its terminal,
// its own file) and also to the batch's `logs/worker.jsonl`, so a batch worked by a separate
// `durabatch worker` has its log next to its results, as one run by `durabatch run` does.
import pino, { type Logger } from 'pino';
import { AppendFile, batchLogFile } from './batch-log-file';
import { operationLogger, type LogLevels, type Operation } from './levels';
import { logFileOf, loggerOptions } from './logger';

/** Batches whose files stay open at once; the least recently used closes first (it reopens on use). */
const MAX_OPEN_BATCHES = 64;

interface BatchEntry {
  root: Logger;
  file?: AppendFile;
  ops: Map<Operation, Logger>;
}

export class BatchLoggers {
  private readonly batches = new Map<string, BatchEntry>();

  constructor(
    private readonly base: Logger,
    private readonly levels?: LogLevels,
  ) {}

  /** The `op` logger of the batch whose output directory is `outputDir`. */
  op(outputDir: string, op: Operation): Logger {
    const entry = this.entry(batchLogFile(outputDir));
    let logger = entry.ops.get(op);
    if (!logger) {
      logger = operationLogger(entry.root, op, this.levels);
      entry.ops.set(op, logger);
    }
    return logger;
  }

  private entry(file: string): BatchEntry {
    let entry = this.batches.get(file);
    if (entry) {
      // Most recently used last, so eviction takes the batch idle the longest.
      this.batches.delete(file);
      this.batches.set(file, entry);
      return entry;
    }
    entry = this.create(file);
    this.batches.set(file, entry);
    for (const [oldFile, old] of this.batches) {
      if (this.batches.size <= MAX_OPEN_BATCHES) break;
      old.file?.close();
      this.batches.delete(oldFile);
    }
    return entry;
  }

  private create(file: string): BatchEntry {
    // `run`'s worker logs to this very file already: a second copy of each line would be noise.
    if (logFileOf(this.base) === file) return { root: this.base, ops: new Map() };
    const appendFile = new AppendFile(file, (err) =>
      this.base.warn(
        { file, err: err.message },
        'cannot write the batch log; its lines go to this worker log only',
      ),
    );
    const baseStream = (this.base as unknown as Record<symbol, pino.DestinationStream>)[
      pino.symbols.streamSym
    ]!;
    const root = pino(
      loggerOptions(this.base.level),
      pino.multistream([
        { level: 'trace', stream: baseStream },
        { level: 'trace', stream: appendFile },
      ]),
    ).child(this.base.bindings());
    return { root, file: appendFile, ops: new Map() };
  }
}

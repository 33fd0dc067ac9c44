// A file written as a stream and published atomically: lines go to a temporary file beside the
// target, which replaces the target by rename only once it is complete. A crash or error leaves the
// old file (or none), never half of one, and memory stays flat however many lines are written.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';

export class AtomicFileWriter {
  private readonly tmp: string;
  private out: WriteStream | undefined;
  private failure: Error | undefined;

  constructor(readonly file: string) {
    this.tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  }

  async open(): Promise<this> {
    await mkdir(path.dirname(this.file), { recursive: true });
    this.out = createWriteStream(this.tmp);
    // Kept, not thrown from the event: the next write or commit reports it.
    this.out.on('error', (err) => (this.failure ??= err));
    return this;
  }

  /** Writes text, waiting for the disk when the stream's buffer is full. */
  async write(text: string): Promise<void> {
    const out = this.stream();
    if (!out.write(text)) {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => {
          out.off('drain', onDrain);
          reject(err);
        };
        const onDrain = () => {
          out.off('error', onError);
          resolve();
        };
        out.once('drain', onDrain);
        out.once('error', onError);
      });
    }
    if (this.failure) throw this.failure;
  }

  /** Closes the temporary file and moves it over the target. */
  async commit(): Promise<void> {
    const out = this.stream();
    out.end();
    await finished(out);
    if (this.failure) throw this.failure;
    await rename(this.tmp, this.file);
  }

  /** Drops the temporary file; the target is left as it was. */
  async abort(): Promise<void> {
    this.out?.destroy();
    await rm(this.tmp, { force: true });
  }

  private stream(): WriteStream {
    if (!this.out) throw new Error(`AtomicFileWriter for ${this.file}: open() was not called`);
    if (this.failure) throw this.failure;
    return this.out;
  }
}

/** Opens writers for several files, runs `fill`, then commits them all, or aborts them all on error. */
export async function writeFilesAtomically<K extends string>(
  files: Record<K, string>,
  fill: (writers: Record<K, AtomicFileWriter>) => Promise<void>,
): Promise<void> {
  const writers = {} as Record<K, AtomicFileWriter>;
  try {
    for (const key of Object.keys(files) as K[]) writers[key] = await new AtomicFileWriter(files[key]).open();
    await fill(writers);
    for (const w of Object.values<AtomicFileWriter>(writers)) await w.commit();
  } catch (err) {
    for (const w of Object.values<AtomicFileWriter>(writers)) await w.abort();
    throw err;
  }
}

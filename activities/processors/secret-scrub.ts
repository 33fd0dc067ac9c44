// Secrets never leave the activity. Every value an attempt resolves from `${env:NAME}` (headers, a
// command's env, a key passphrase) can come back in what the processor hands on: a target that echoes
// the request, a program that prints its token, an error that quotes a malformed header. One scrubber
// at the processItem boundary masks them in the failure (message, stack, details, causes), the
// outcome (body, output excerpt, file names), heartbeat details and the attempt's log lines, so no
// processor has to remember to, and history, reports and logs never see them.
import type { Logger } from 'pino';
import { isSecretName, MASK } from '../../src/logging/secrets';

/** Shorter resolved values are not masked: masking `1` or `yes` would garble every output. */
const MIN_REFERENCED = 4;
/** A secret-named worker variable (`*_TOKEN`) that no spec references: longer, to be sure it is one. */
const MIN_NAMED = 8;
const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;
const MAX_DEPTH = 64;
/** A shorter piece of a secret at a cut is left alone: too little to use, too likely to be a word. */
const MIN_CUT = 6;
/** What src excerpts put where they cut a text. */
const CUT = '…';

export class SecretScrubber {
  private readonly needles: string[];

  constructor(secrets: Iterable<string>) {
    const forms = new Set<string>();
    for (const secret of secrets) {
      if (secret.length < MIN_REFERENCED) continue;
      // The forms a secret takes in text handed on: as is, inside JSON, URL-encoded, and each line of
      // a secret with a line break (an error may quote one of them).
      for (const form of [
        secret,
        JSON.stringify(secret).slice(1, -1),
        encodeURIComponent(secret),
        ...secret.split(/\r?\n|\r/).map((line) => line.trim()),
      ]) {
        if (form.length >= MIN_REFERENCED) forms.add(form);
      }
    }
    // Longest first, so a secret containing another is masked whole.
    this.needles = [...forms].sort((a, b) => b.length - a.length);
  }

  get empty(): boolean {
    return this.needles.length === 0;
  }

  text(value: string): string {
    let out = value;
    for (const needle of this.needles) if (out.includes(needle)) out = out.split(needle).join(MASK);
    return this.cutEdges(out);
  }

  /**
   * An excerpt cut through a secret keeps part of it: the head of an output ends with its start,
   * the tail of a stderr begins with its end (an ellipsis or the text's edge marks the cut).
   */
  private cutEdges(text: string): string {
    let out = text;
    const cut = out.includes(CUT);
    for (const needle of this.needles) {
      for (let k = needle.length - 1; k >= MIN_CUT; k--) {
        const head = needle.slice(0, k);
        const tail = needle.slice(-k);
        if (out.endsWith(head)) out = out.slice(0, -k) + MASK;
        if (out.startsWith(tail)) out = MASK + out.slice(k);
        if (cut)
          out = out
            .split(head + CUT)
            .join(MASK + CUT)
            .split(CUT + tail)
            .join(CUT + MASK);
      }
    }
    return out;
  }

  /** A copy of a JSON-like value with every string (and object key) scrubbed. */
  value<T>(value: T, depth = 0): T {
    if (this.empty || depth > MAX_DEPTH) return value;
    if (typeof value === 'string') return this.text(value) as T;
    if (value instanceof Error) return this.error(value, depth);
    if (Array.isArray(value)) return value.map((v: unknown) => this.value(v, depth + 1)) as T;
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) !== Object.prototype) {
      // A class instance (a module's return value) travels as its JSON: scrub that.
      const json = JSON.stringify(value) as string | undefined;
      return (json === undefined ? value : this.value(JSON.parse(json) as unknown, depth + 1)) as T;
    }
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [this.text(k), this.value(v as unknown, depth + 1)]),
      ) as T;
    }
    return value;
  }

  /**
   * Scrubs an error in place (class, name and type kept: the retry policy reads them), with its
   * stack, ApplicationFailure details and causes. Temporal serialises exactly these fields.
   */
  error<E>(err: E, depth = 0): E {
    if (this.empty || !(err instanceof Error) || depth > MAX_DEPTH) return err;
    const e = err as Error & { details?: unknown[]; cause?: unknown };
    e.message = this.text(e.message);
    if (e.stack) e.stack = this.text(e.stack);
    if (Array.isArray(e.details)) {
      Object.defineProperty(e, 'details', { value: this.value(e.details, depth + 1), writable: true });
    }
    if (e.cause !== undefined) {
      const cause =
        e.cause instanceof Error ? this.error(e.cause, depth + 1) : this.value(e.cause, depth + 1);
      Object.defineProperty(e, 'cause', { value: cause, writable: true, configurable: true });
    }
    return err;
  }

  /** The attempt's logger, whose every line (message, fields, errors) is scrubbed before it is written. */
  logger(log: Logger): Logger {
    if (this.empty) return log;
    const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
    return new Proxy(log, {
      get: (target, prop, receiver) => {
        const member = Reflect.get(target, prop, receiver) as unknown;
        if (typeof prop === 'string' && LEVELS.has(prop) && typeof member === 'function') {
          return (...args: unknown[]) =>
            (member as (...a: unknown[]) => void).apply(
              target,
              args.map((a) => this.value(a)),
            );
        }
        if (prop === 'child' && typeof member === 'function') {
          return (...args: unknown[]) =>
            this.logger(
              (member as (...a: unknown[]) => Logger).apply(
                target,
                args.map((a) => this.value(a)),
              ),
            );
        }
        return typeof member === 'function' ? (member as (...a: unknown[]) => unknown).bind(target) : member;
      },
    });
  }
}

/**
 * The values a step could reveal from the worker's environment: every `${env:NAME}` anywhere in its
 * spec (headers, command env, passphrase, URL) and in the batch's other steps (`batchEnvRefs`: a
 * command inherits the whole worker environment, so step 2 can print what step 1's header
 * resolves), plus the worker's own secret-named variables (`TEMPORAL_API_KEY`,
 * `DURABATCH_CODEC_KEY`…), which a command inherits and could print.
 */
export function secretsOf(
  spec: unknown,
  env: NodeJS.ProcessEnv,
  batchEnvRefs: readonly string[] = [],
): string[] {
  const found = new Set<string>();
  const names = [...(JSON.stringify(spec) ?? '').matchAll(ENV_REF)].map((m) => m[1]!);
  for (const name of [...names, ...batchEnvRefs]) {
    const value = typeof name === 'string' ? env[name] : undefined;
    if (value) found.add(value);
  }
  for (const [name, value] of Object.entries(env)) {
    if (value && value.length >= MIN_NAMED && isSecretName(name)) found.add(value);
  }
  return [...found];
}

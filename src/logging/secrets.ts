// One definition of "looks like a secret", shared by log redaction, `durabatch config` and config
// error messages, so a value hidden in one place is never printed by another.

/**
 * Setting or field names whose values are secrets. `key` counts only as a word of its own
 * (`apiKey`, `x-api-key`, `private_key`): `metadataKey` and `idempotencyKey` name columns and ids.
 */
const SECRET_NAME =
  /token|secret|passw(?:or)?d|authorization|credential|cookie|api[-_]?key|private[-_]?key|access[-_]?key|(?:^|[-_])key$/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export const MASK = '****';

const ENV_REF = /\$\{env:[A-Za-z_][A-Za-z0-9_]*\}/g;
/** Text around an env reference that is safe to show: whitespace and an auth scheme word. */
const HARMLESS = /^\s*(?:(?:Bearer|Basic|Token|Digest|ApiKey)\s*)?$/i;

/**
 * Masks a secret-bearing string but keeps `${env:NAME}` references visible: they name where the
 * secret lives on the worker, not the secret itself. `Bearer ${env:API_TOKEN}` stays as it is;
 * `Bearer abc123` becomes `****`; `k=${env:X}` becomes `****${env:X}`.
 */
export function maskSecretText(value: string): string {
  const refs = value.match(ENV_REF) ?? [];
  const literals = value.split(ENV_REF);
  let out = '';
  literals.forEach((text, i) => {
    out += text === '' || (refs.length > 0 && HARMLESS.test(text)) ? text : MASK;
    if (i < refs.length) out += refs[i];
  });
  return out;
}

/** Hides a password in `scheme://user:pass@host` and the values of secret-named query parameters. */
export function maskUrl(url: string): string {
  return url
    .replace(/(\/\/[^/:@\s]*:)[^@/\s]+@/, `$1${MASK}@`)
    .replace(/([?&]([^=&#]+)=)([^&#]*)/g, (all, prefix: string, name: string, value: string) =>
      isSecretName(decodeURIComponentSafe(name)) ? prefix + maskSecretText(value) : all,
    );
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Groups whose every value is a secret whatever its name: request headers and a command's env. */
const SECRET_MAPS = new Set(['headers', 'env']);

/**
 * A copy of a settings value with secrets masked: every value under `headers` and `env`, any value
 * whose key looks secret, and passwords or secret query parameters in URLs. Recurses through
 * objects and arrays (pipeline steps have their own headers).
 */
export function maskSecrets(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    if (isSecretName(key)) return maskSecretText(value);
    return key === 'url' ? maskUrl(value) : value;
  }
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, key));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] =
        SECRET_MAPS.has(key) && typeof v === 'string'
          ? maskSecretText(v)
          : isSecretName(k) && typeof v !== 'object'
            ? maskScalar(v)
            : maskSecrets(v, k);
    }
    return out;
  }
  return isSecretName(key) ? maskScalar(value) : value;
}

function maskScalar(value: unknown): unknown {
  if (value === undefined || value === null) return value;
  return typeof value === 'string' ? maskSecretText(value) : MASK;
}

/**
 * Headers for a log line. A value whose configured template references `${env:NAME}` shows the
 * template, never the resolved secret; other values are masked when the header's name looks secret.
 * `idempotency-key` names the item (`<batchId>:<key>`), not a credential, and stays readable.
 */
export function maskHeaders(
  headers: Iterable<[string, string]> | Record<string, string>,
  configured: Record<string, string> = {},
): Record<string, string> {
  const templates = new Map(Object.entries(configured).map(([k, v]) => [k.toLowerCase(), v]));
  const entries = Symbol.iterator in headers ? [...headers] : Object.entries(headers);
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    const template = templates.get(lower);
    if (template?.includes('${env:')) out[lower] = maskSecretText(template);
    else if (lower !== 'idempotency-key' && isSecretName(lower)) out[lower] = maskSecretText(value);
    else out[lower] = value;
  }
  return out;
}

const FLAG = /^(--?[A-Za-z][\w-]*)(?:=(.*))?$/s;

/** A command line for a log line: the value of a secret-named flag (`--token X`, `--password=X`) is masked. */
export function maskArgv(argv: string[]): string[] {
  return argv.map((arg, i) => {
    const flag = FLAG.exec(arg);
    if (flag?.[2] !== undefined && isSecretName(flag[1]!.replace(/^-+/, ''))) {
      return `${flag[1]}=${maskSecretText(flag[2])}`;
    }
    const previous = i > 0 ? FLAG.exec(argv[i - 1]!) : null;
    if (previous && previous[2] === undefined && isSecretName(previous[1]!.replace(/^-+/, ''))) {
      return maskSecretText(arg);
    }
    return arg;
  });
}

// Who is calling: bearer tokens kept only as SHA-256 hashes, each with a name (it goes into every
// audit entry the caller causes) and scopes. Without tokens the service may listen on loopback only,
// where every caller is the machine's own user and may do everything.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { API_SCOPES, type ApiScope } from '../config/api';
import { InputError } from '../errors';
import { ApiProblem } from './problem';

export interface Principal {
  /** The token's name (`local` without tokens): named in audit entries and logs. */
  name: string;
  scopes: ReadonlySet<ApiScope>;
}

interface TokenEntry {
  name: string;
  scopes: Set<ApiScope>;
  hash: Buffer;
}

export const LOCAL_PRINCIPAL: Principal = { name: 'local', scopes: new Set(API_SCOPES) };

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A fresh token for `name` and the entry that admits it (the token itself is shown once, never stored). */
export function newToken(name: string, scopes: readonly ApiScope[]): { token: string; entry: string } {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
    throw new InputError(`token name "${name}" is not allowed`, 'use letters, digits, ".", "_" and "-" only');
  }
  const token = `dbt_${randomBytes(32).toString('base64url')}`;
  return { token, entry: `${name}:${scopes.join(',')}:${sha256Hex(token)}` };
}

/** Parses `name:scope,scope:sha256hex` entries; `where` names their origin in errors. */
export function parseTokenEntries(lines: readonly string[], where: string): TokenEntry[] {
  const out: TokenEntry[] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const m = /^([A-Za-z0-9._-]{1,64}):([a-z,]+):([0-9a-f]{64})$/.exec(line);
    const at = `${where}, entry ${i + 1}`;
    if (!m) {
      throw new InputError(
        `${at}: not a token entry (name:scopes:sha256)`,
        'create one with `durabatch serve --new-token NAME --scopes read,operate,submit`',
      );
    }
    const scopes = m[2]!.split(',').filter(Boolean);
    const unknown = scopes.filter((s) => !(API_SCOPES as readonly string[]).includes(s));
    if (unknown.length > 0) {
      throw new InputError(`${at}: unknown scope "${unknown[0]}"`, `scopes are ${API_SCOPES.join(', ')}`);
    }
    if (out.some((t) => t.name === m[1])) throw new InputError(`${at}: a second token named "${m[1]}"`);
    out.push({ name: m[1]!, scopes: new Set(scopes as ApiScope[]), hash: Buffer.from(m[3]!, 'hex') });
  });
  return out;
}

export class TokenTable {
  private constructor(private readonly entries: TokenEntry[]) {}

  /** The tokens of config `api.tokens` and `api.tokenFile` together. */
  static async load(settings: { tokens?: string[]; tokenFile?: string }): Promise<TokenTable> {
    const entries = parseTokenEntries(settings.tokens ?? [], 'setting api.tokens');
    if (settings.tokenFile) {
      const text = await readFile(settings.tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new InputError(
          `cannot read token file ${settings.tokenFile}: ${err.code ?? err.message}`,
          'check api.tokenFile / --token-file',
        );
      });
      const more = parseTokenEntries(text.split('\n'), `token file ${settings.tokenFile}`);
      for (const t of more) {
        if (entries.some((e) => e.name === t.name)) {
          throw new InputError(`token file ${settings.tokenFile}: a second token named "${t.name}"`);
        }
        entries.push(t);
      }
    }
    return new TokenTable(entries);
  }

  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /**
   * The caller of a request with this Authorization header: LOCAL_PRINCIPAL when no tokens are
   * configured; a 401 problem without a known bearer token. Every entry is compared (in constant
   * time), so the answer's timing says nothing about which token is close.
   */
  authenticate(authorization: string | undefined): Principal {
    if (!this.enabled) return LOCAL_PRINCIPAL;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) {
      throw new ApiProblem(
        401,
        'Unauthorized',
        'this request needs a bearer token',
        'send `Authorization: Bearer <token>`',
        {
          scheme: 'Bearer',
        },
      );
    }
    const hash = createHash('sha256').update(m[1]!, 'utf8').digest();
    let found: TokenEntry | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, hash)) found = e;
    if (!found) {
      throw new ApiProblem(
        401,
        'Unauthorized',
        'the bearer token is not known to this service',
        'check the token, or ask for a new one',
      );
    }
    return { name: found.name, scopes: found.scopes };
  }
}

/** A 403 problem unless `who` holds `scope`. */
export function requireScope(who: Principal, scope: ApiScope): void {
  if (!who.scopes.has(scope)) {
    throw new ApiProblem(
      403,
      'Forbidden',
      `token "${who.name}" lacks the "${scope}" scope this request needs`,
      `use a token with scope "${scope}"`,
      {
        scope,
      },
    );
  }
}

/** Loopback addresses, where a service without tokens may listen. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

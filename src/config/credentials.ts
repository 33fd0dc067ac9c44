// Credentials written into the settings themselves, found at configuration time: a header holding a
// literal key is stored in the batch's workflow input (history, Web UI) in clear; a URL with
// `user:pass@` is never sent as such (fetch refuses it) and its password would reach the reports.
import { isSecretName, maskSecretText } from '../logging/secrets';
import type { Config } from './schema';
import type { SettingSources } from './schema';

/** `scheme://user[:pass]@host…`: credentials in the authority of a URL (template). */
export const URL_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i;

export const URL_CREDENTIALS_MESSAGE =
  'holds a user name or password (`user:pass@`), which is never sent and would be stored in the ' +
  "batch and its reports: put the credential in a header from the worker's environment instead, " +
  "e.g. --header 'Authorization: Basic ${env:TARGET_BASIC_AUTH}'";

/** `${env:NAME}` anywhere in a URL template: never resolved there. */
export const URL_ENV_REF = /\$\{env:/;

export const URL_ENV_REF_MESSAGE =
  'refers to a worker variable (`${env:NAME}`), which is resolved only in headers, command env and ' +
  "key passphrases: in a URL it would be sent as is, a `$` and the variable's name. Send the " +
  "credential in a header instead, e.g. --header 'Authorization: Bearer ${env:TARGET_TOKEN}' or " +
  "--header 'X-Api-Key: ${env:TARGET_API_KEY}'";

/** For an argv or a working directory: the program would get the reference as is. */
export const COMMAND_ENV_REF_MESSAGE =
  'refers to a worker variable (`${env:NAME}`), which is resolved only in command.env (and http ' +
  'headers, key passphrases): the program would get `${env:…}` as is. Pass it through the ' +
  'environment instead, e.g. "command": {"env": {"TARGET_TOKEN": "${env:TARGET_TOKEN}"}}, and ' +
  'have the program read TARGET_TOKEN';

/** For an http body template: it would be sent as is. */
export const BODY_ENV_REF_MESSAGE =
  'refers to a worker variable (`${env:NAME}`), which is resolved only in headers, command env and ' +
  "key passphrases: in a body it would be sent as is. Send the credential in a header instead, e.g. --header 'Authorization: Bearer ${env:TARGET_TOKEN}'";

const SCHEME = /^\s*(?:Bearer|Basic|Token|Digest|ApiKey)\s+\S/i;

/** Literal (no placeholder) values of secret-named query parameters of a URL template. */
function secretQueryParams(url: string): string[] {
  const query = /\?([^#]*)/.exec(url)?.[1] ?? '';
  const names: string[] = [];
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (value !== '' && !/[{}]/.test(value) && isSecretName(decodeURIComponentSafe(name))) names.push(name);
  }
  return names;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * One warning per secret-named query parameter (`?api_key=sk-…`, `&access_token=…`) given as
 * literal text in a URL template: it is stored in the batch, its history and its reports.
 */
export function literalUrlCredentialWarnings(config: Config, sources: SettingSources = {}): string[] {
  const urls = [
    { where: 'http.url', url: config.http.url },
    ...(config.steps ?? []).map((s, i) => ({ where: `steps.${i}.http.url`, url: s.http?.url })),
  ];
  const warnings: string[] = [];
  for (const { where, url } of urls) {
    if (!url) continue;
    const from = sources[where] ?? sources[where.split('.')[0]!] ?? `setting "${where}"`;
    for (const name of secretQueryParams(url)) {
      const env = name.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase();
      warnings.push(
        `warning: URL query parameter "${name}" (${from}) holds a literal credential: it is stored in ` +
          "the batch's workflow input and reports, readable in its history and the Web UI; if the " +
          `target accepts it in a header, set it in the workers' environment and send it as ` +
          `--header 'X-Api-Key: \${env:${env}}' (or the header the target documents)`,
      );
    }
  }
  return warnings;
}

/**
 * One warning per header or command variable whose value carries a credential as literal text (not
 * `${env:NAME}`): a header whose name looks secret (`Authorization`, `X-Api-Key`, `Cookie`) or whose
 * value starts with an auth scheme (`Bearer abc123`), a command variable whose name looks secret.
 */
export function literalCredentialWarnings(config: Config, sources: SettingSources = {}): string[] {
  type Group = { where: string; kind: 'header' | 'variable'; values: Record<string, string> };
  const groups: Group[] = [
    { where: 'http.headers', kind: 'header', values: config.http.headers },
    ...(config.command
      ? [{ where: 'command.env', kind: 'variable' as const, values: config.command.env }]
      : []),
    ...(config.steps ?? []).flatMap((s, i): Group[] => [
      ...(s.http
        ? [{ where: `steps.${i}.http.headers`, kind: 'header' as const, values: s.http.headers }]
        : []),
      ...(s.command
        ? [{ where: `steps.${i}.command.env`, kind: 'variable' as const, values: s.command.env }]
        : []),
    ]),
  ];
  const warnings: string[] = [];
  for (const { where, kind, values } of groups) {
    for (const [name, value] of Object.entries(values)) {
      const literal = maskSecretText(value) !== value;
      const looksSecret = isSecretName(name) || (kind === 'header' && SCHEME.test(value));
      if (!literal || !looksSecret) continue;
      const from = sources[where] ?? sources[where.split('.')[0]!] ?? `setting "${where}"`;
      const env = name.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase();
      const scheme = kind === 'header' && SCHEME.test(value) ? /^\s*(\w+)\s/.exec(value)?.[1] : undefined;
      const example = scheme ? `${scheme} \${env:${env}}` : `\${env:${env}}`;
      const form = kind === 'header' ? `"${name}: ${example}"` : `"${name}": "${example}"`;
      warnings.push(
        `warning: ${kind} "${name}" (${from}) holds a literal credential: it is stored in the batch's ` +
          `workflow input, readable in its history and the Web UI; set it in the workers' environment ` +
          `and write ${form}`,
      );
    }
  }
  return [...warnings, ...literalUrlCredentialWarnings(config, sources)];
}

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

const SCHEME = /^\s*(?:Bearer|Basic|Token|Digest|ApiKey)\s+\S/i;

/**
 * One warning per header whose value carries a credential as literal text (not `${env:NAME}`): a
 * header whose name looks secret (`Authorization`, `X-Api-Key`, `Cookie`) or whose value starts with
 * an auth scheme (`Bearer abc123`).
 */
export function literalCredentialWarnings(config: Config, sources: SettingSources = {}): string[] {
  const groups: { where: string; headers: Record<string, string> }[] = [
    { where: 'http.headers', headers: config.http.headers },
    ...(config.steps ?? []).flatMap((s, i) =>
      s.http ? [{ where: `steps.${i}.http.headers`, headers: s.http.headers }] : [],
    ),
  ];
  const warnings: string[] = [];
  for (const { where, headers } of groups) {
    for (const [name, value] of Object.entries(headers)) {
      const literal = maskSecretText(value) !== value;
      if (!literal || !(isSecretName(name) || SCHEME.test(value))) continue;
      const from = sources[where] ?? sources[where.split('.').slice(0, 1).join('.')] ?? `setting "${where}"`;
      const env = `${name.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}`;
      const scheme = /^\s*(\w+)\s+\S/.exec(value)?.[1];
      const example = SCHEME.test(value) && scheme ? `${scheme} \${env:${env}}` : `\${env:${env}}`;
      warnings.push(
        `warning: header "${name}" (${from}) holds a literal credential: it is stored in the batch's ` +
          `workflow input, readable in its history and the Web UI; set it in the workers' environment ` +
          `and write "${name}: ${example}"`,
      );
    }
  }
  return warnings;
}

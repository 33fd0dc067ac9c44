// `durabatch serve`: the batch service (HTTP API, live events, console) in front of the batches on
// the Temporal server. The work is in ../../api/serve.ts, imported when the command runs.
import type { Command } from 'commander';

export interface ServeFlags {
  config?: string;
  host?: string;
  port?: string;
  tokenFile?: string;
  worker?: boolean;
  newToken?: string;
  scopes?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the batch service: HTTP API under /v1, live events, and the batch console at /')
    .option('--config <file>', 'config file (JSON): its `api` section sets presets, tokens and limits')
    .option('--host <address>', 'address to listen on (default 127.0.0.1; any other needs tokens)')
    .option('--port <n>', 'port to listen on, 0 for any free port (default 8080)')
    .option('--token-file <file>', 'file of token entries (name:scopes:sha256), one per line')
    .option('--worker', 'also run a worker in this process that runs exactly the presets')
    .option(
      '--new-token <name>',
      'print a new token and its entry for api.tokens / the token file, then exit',
    )
    .option('--scopes <list>', 'scopes of --new-token, comma-separated: read, operate, submit', 'read')
    .addHelpText(
      'after',
      `
Examples:
  durabatch serve --config service.json                 # 127.0.0.1:8080, no tokens needed locally
  durabatch serve --new-token ingest-app --scopes read,submit
  DURABATCH_API_TOKENS='ingest-app:read,submit:9f86…' durabatch serve --host 0.0.0.0 --config service.json

Endpoints and their curl examples: docs/api.md; the live reference: /v1/docs.`,
    )
    .action((flags: ServeFlags) => import('../../api/serve').then(({ serve }) => serve(flags)));
}

// `durabatch config`: its flags and help; the work is in ../show-config.ts, imported when it runs.
import type { Command } from 'commander';
import { addBatchOptions, CONFIG_PRECEDENCE, type BatchFlags } from '../batch-options';

export function registerConfig(program: Command): void {
  addBatchOptions(
    program
      .command('config')
      .description(
        'print the effective settings (after precedence) with where each value came from; secrets masked',
      )
      .option('--json', 'print { file, precedence, settings: { <field>: { value, source, from } } } as JSON'),
  )
    .addHelpText(
      'after',
      `
Precedence: ${CONFIG_PRECEDENCE}. Sources: default, file, env (DURABATCH_<FIELD>), flag.
Header values, a command's env values and anything named like a token, key, secret or password
are shown as ****; \${env:NAME} references are shown as they are (they name the variable, not the secret).

Examples:
  durabatch config --config config/production.json
  DURABATCH_CONCURRENCY=50 durabatch config --config config/staging.json --rate 20 --json

Exit code: 0 settings valid, 2 invalid settings (each error names the flag, variable or file).`,
    )
    .action((flags: BatchFlags & { json?: boolean }) =>
      import('../show-config').then((m) => m.showConfig(flags)),
    );
}

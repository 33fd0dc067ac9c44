// `durabatch codec-server`: the Temporal codec endpoint for the Web UI (Settings → Codec Server, or
// the UI server's codec.endpoint), decrypting payloads with the key this process is given.
import type { Command } from 'commander';
import { InputError } from '../../errors';
import { say } from '../batch-connection';

export function registerCodecServer(program: Command): void {
  program
    .command('codec-server')
    .description(
      'serve the Temporal codec endpoint (/encode, /decode) so the Web UI shows decrypted payloads',
    )
    .option('--host <host>', 'address to listen on (default 127.0.0.1)', '127.0.0.1')
    .option('--port <n>', 'port (default 8888)', '8888')
    .option('--cors-origin <origin...>', "the Web UI's origin(s), e.g. http://localhost:8080 (repeatable)")
    .option(
      '--authorization <value>',
      'require this Authorization header (also DURABATCH_CODEC_AUTHORIZATION); required with a --host other than loopback',
    )
    .option(
      '--allowed-host <name...>',
      'host names requests may be addressed to, besides localhost/127.0.0.1 (the name the Web UI reaches this server by)',
    )
    .option(
      '--allow-unauthenticated',
      'listen on a non-loopback --host without --authorization: only in a container whose port is published on 127.0.0.1',
    )
    .addHelpText(
      'after',
      '\nNeeds the key: DURABATCH_CODEC_KEY (+ DURABATCH_CODEC_KEY_ID) or DURABATCH_CODEC_KEY_FILE.\n' +
        'Example:\n  DURABATCH_CODEC_KEY_FILE=keys.json durabatch codec-server --cors-origin http://localhost:8080',
    )
    .action(
      async (opts: {
        host: string;
        port: string;
        corsOrigin?: string[];
        authorization?: string;
        allowedHost?: string[];
        allowUnauthenticated?: boolean;
      }) => {
        const { AesGcmCodec, loadKeyRing } = await import('../../codec');
        const { startCodecServer } = await import('../../codec/server');
        const ring = loadKeyRing();
        if (!ring)
          throw new InputError(
            'codec-server needs the payload key',
            'set DURABATCH_CODEC_KEY (base64, 32 bytes) or DURABATCH_CODEC_KEY_FILE',
          );
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65_535)
          throw new InputError(`--port ${opts.port} is not a port`);
        const server = await startCodecServer({
          codec: new AesGcmCodec(ring),
          host: opts.host,
          port,
          corsOrigins: opts.corsOrigin,
          authorization: opts.authorization ?? (process.env.DURABATCH_CODEC_AUTHORIZATION || undefined),
          allowUnauthenticated: opts.allowUnauthenticated,
          allowedHosts: opts.allowedHost,
          log: say,
        });
        say(
          `codec server on ${server.url} (keys: ${[...ring.keys.keys()].join(', ')}; current ${ring.currentId})`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await server.close();
      },
    );
}

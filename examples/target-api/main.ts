// CLI for the example target API:
//   tsx examples/target-api/main.ts --port 0 --failure-rate 0.05 --rate-limit-rate 0.03
// Prints one JSON line {"event":"listening","url":...} so a parent process can find the port.
import { parseArgs } from 'node:util';
import { startTargetApi, type TargetApiOptions } from './server';

const usage = `Usage: tsx examples/target-api/main.ts [options]
  --port <n>                 port to listen on, 0 = any free port (default 0)
  --host <addr>              interface to bind (default 127.0.0.1)
  --latency <min,max>        per-request latency range in ms (default 5,40)
  --failure-rate <p>         probability of a 503 (default 0.05)
  --rate-limit-rate <p>      probability of a 429 with Retry-After (default 0.03)
  --retry-after <s>          Retry-After seconds on 429 (default 1)
  --seed <n>                 PRNG seed (default 42)
  --fail-first-attempts <n>  503 the first n attempts of every idempotency key (default 0)`;

function num(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new Error(`--${name} must be a number, got '${value}'`);
  return n;
}

function parseOptions(argv: string[]): TargetApiOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      latency: { type: 'string' },
      'failure-rate': { type: 'string' },
      'rate-limit-rate': { type: 'string' },
      'retry-after': { type: 'string' },
      seed: { type: 'string' },
      'fail-first-attempts': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;

  let latencyMs: [number, number] | undefined;
  if (values.latency !== undefined) {
    const parts = values.latency.split(',').map((p) => num('latency', p));
    const [min, max = min] = parts;
    if (min === undefined || max === undefined || parts.length > 2) {
      throw new Error(`--latency must be 'min,max' in ms, got '${values.latency}'`);
    }
    latencyMs = [min, max];
  }
  return {
    port: num('port', values.port),
    host: values.host,
    latencyMs,
    failureRate: num('failure-rate', values['failure-rate']),
    rateLimitRate: num('rate-limit-rate', values['rate-limit-rate']),
    retryAfterSeconds: num('retry-after', values['retry-after']),
    seed: num('seed', values.seed),
    failFirstAttempts: num('fail-first-attempts', values['fail-first-attempts']),
  };
}

async function main(): Promise<void> {
  let options: TargetApiOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  if (!options) {
    console.log(usage);
    return;
  }
  // Drop unset fields so the server's defaults apply.
  const defined = Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as TargetApiOptions;

  const api = await startTargetApi(defined);
  console.log(JSON.stringify({ event: 'listening', url: api.url }));

  const shutdown = (signal: string): void => {
    api.close().then(
      () => {
        // stderr, so stdout stays the single 'listening' line a parent process may parse.
        console.error(JSON.stringify({ event: 'closed', signal, stats: api.stats() }));
        process.exit(0);
      },
      (err: unknown) => {
        console.error('target-api: error while closing', err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error('target-api: failed to start', err);
  process.exit(1);
});

// Turns settings into the steps an item runs, and describes them for people.
import path from 'node:path';
import type { ItemRetryPolicy, ProcessorSpec, StepSpec } from '../../workflows/types';
import type { StepSettings } from '../config/processors';
import type { Config } from '../config/schema';
import { InputError } from '../errors';
import { maskArgv, maskUrl } from '../logging/secrets';

type ProcessorSettings = Pick<Config, 'http' | 'command' | 'module'> & { processor: Config['processor'] };

function processorFrom(
  s: Partial<ProcessorSettings> & { processor: Config['processor'] },
  where: string,
): ProcessorSpec {
  switch (s.processor) {
    case 'http': {
      if (!s.http?.url)
        throw new InputError(
          `${where}: the http processor needs a URL`,
          'give --url http://host/path/{field} (or "http": {"url": ...} in the config)',
        );
      const { url, method, headers, body, bodyMode, fileField, connections, timeoutMs, costFrom } = s.http;
      const { clientCert, clientKey, clientKeyPassphrase, ca, maxResponseBytes } = s.http;
      if ((clientCert === undefined) !== (clientKey === undefined)) {
        throw new InputError(
          `${where}: ${clientCert ? 'clientCert' : 'clientKey'} is set without ${clientCert ? 'clientKey' : 'clientCert'}`,
          'mutual TLS needs both: --client-cert FILE and --client-key FILE (or http.clientCert / http.clientKey)',
        );
      }
      // Absolute as the CLI sees them: workers read the files (shared storage, or the same layout).
      const file = (p: string | undefined) => (p === undefined ? undefined : path.resolve(p));
      const tls =
        clientCert || ca
          ? { cert: file(clientCert), key: file(clientKey), passphrase: clientKeyPassphrase, ca: file(ca) }
          : undefined;
      return {
        type: 'http',
        url,
        method,
        headers,
        body,
        bodyMode,
        fileField,
        connections,
        timeoutMs,
        costFrom,
        maxResponseBytes,
        tls,
      };
    }
    case 'command': {
      if (!s.command)
        throw new InputError(
          `${where}: the command processor needs a command`,
          'give --command "convert {path} {documents}/out.png"',
        );
      const { argv, cwd, env, timeoutMs, successExitCodes, retryableExitCodes, allowOptionValues } =
        s.command;
      const { allowRemoteValues } = s.command;
      return {
        type: 'command',
        argv,
        cwd,
        env,
        timeoutMs,
        successExitCodes,
        retryableExitCodes,
        // Only when set, so the inputs of batches that do not use it stay as they were.
        ...(allowOptionValues === undefined || allowOptionValues === false ? {} : { allowOptionValues }),
        ...(allowRemoteValues ? { allowRemoteValues } : {}),
      };
    }
    case 'module': {
      if (!s.module)
        throw new InputError(
          `${where}: the module processor needs a module`,
          'give --module ./my-processor.ts',
        );
      // Workers load it by absolute path, whatever their working directory.
      return { type: 'module', module: path.resolve(s.module.path), timeoutMs: s.module.timeoutMs };
    }
  }
}

function stepRetry(s: StepSettings): Partial<ItemRetryPolicy> | undefined {
  const r: Partial<ItemRetryPolicy> = {};
  if (s.maxAttempts !== undefined) r.maxAttempts = s.maxAttempts;
  if (s.initialIntervalMs !== undefined) r.initialIntervalMs = s.initialIntervalMs;
  if (s.maxIntervalMs !== undefined) r.maxIntervalMs = s.maxIntervalMs;
  if (s.backoffCoefficient !== undefined) r.backoffCoefficient = s.backoffCoefficient;
  return Object.keys(r).length > 0 ? r : undefined;
}

/** One step named `process` for a single processor, or the configured pipeline. */
export function stepsFromConfig(config: Config): StepSpec[] {
  // The batch's processor level travels with its steps, so a separate `durabatch worker` (which
  // reads no config) logs this batch's items at the level its config asks for.
  const processorLevel = config.logLevels?.processor;
  if (!config.steps)
    return [
      {
        name: 'process',
        processor: processorFrom(config, `processor ${config.processor}`),
        ...(processorLevel ? { logLevel: processorLevel } : {}),
      },
    ];
  return config.steps.map((s) => ({
    name: s.name,
    processor: processorFrom(s, `step "${s.name}"`),
    retry: stepRetry(s),
    logLevel: s.logLevel ?? processorLevel,
  }));
}

/** One line per processor for the Web UI, the audit log and the batch's start line: secrets masked. */
export function describeProcessor(p: ProcessorSpec): string {
  switch (p.type) {
    case 'http':
      return `http ${p.method} ${maskUrl(p.url)}`;
    case 'command':
      return `command ${maskArgv(p.argv).join(' ')}`;
    case 'module':
      return `module ${p.module}`;
  }
}

export function describeSteps(steps: StepSpec[]): string {
  return steps.length === 1
    ? describeProcessor(steps[0]!.processor)
    : steps.map((s) => `${s.name}: ${describeProcessor(s.processor)}`).join(' → ');
}

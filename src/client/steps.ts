// Turns settings into the steps an item runs, and describes them for people.
import type { ProcessorSpec, StepSpec } from '../../workflows/types';
import type { Config } from '../config/schema';
import { InputError } from '../errors';

export function httpProcessor(config: Config): ProcessorSpec {
  if (!config.http.url) throw new InputError('--url is required for the http processor', 'e.g. --url http://localhost:8080/patients');
  return { type: 'http', url: config.http.url, method: config.http.method, headers: config.http.headers, body: config.http.body, timeoutMs: config.http.timeoutMs };
}

export function stepsFromConfig(config: Config): StepSpec[] {
  return [{ name: 'process', processor: httpProcessor(config) }];
}

export function describeProcessor(p: ProcessorSpec): string {
  switch (p.type) {
    case 'http':
      return `http ${p.method} ${p.url}`;
    case 'command':
      return `command ${p.argv.join(' ')}`;
    case 'module':
      return `module ${p.module}`;
  }
}

export function describeSteps(steps: StepSpec[]): string {
  return steps.length === 1 ? describeProcessor(steps[0]!.processor) : steps.map((s) => `${s.name}: ${describeProcessor(s.processor)}`).join(' → ');
}

// Runs one processor for one attempt of one item step.
import type { ProcessorSpec } from '../../workflows/types';
import { runCommand } from './command';
import type { ProcessorContext, ProcessorOutcome } from './context';
import { runHttp } from './http';
import { runModule } from './module';

export function runProcessor(spec: ProcessorSpec, ctx: ProcessorContext): Promise<ProcessorOutcome> {
  switch (spec.type) {
    case 'http':
      return runHttp(spec, ctx);
    case 'command':
      return runCommand(spec, ctx);
    case 'module':
      return runModule(spec, ctx);
  }
}

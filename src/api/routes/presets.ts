// The processors a client may pick (GET /v1/presets): names, descriptions and parameters, for the
// console's menu and for clients. What a preset runs (its program, module or URL) stays the
// service's: only its kind is shown.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { typed } from '../app';
import type { ApiContext } from '../context';
import { DEFAULT_PATTERN, presetsOf } from '../presets';
import { COMMON_PROBLEMS } from '../schemas';

const Value = z.union([z.string(), z.number(), z.boolean()]);

const PresetList = z
  .object({
    presets: z.array(
      z.object({
        name: z.string(),
        description: z.string().nullable(),
        kind: z.enum(['http', 'command', 'module', 'pipeline']),
        params: z.array(
          z.object({
            name: z.string(),
            type: z.enum(['string', 'number', 'boolean']),
            required: z.boolean(),
            enum: z.array(Value).optional(),
            pattern: z.string().optional(),
            default: Value.optional(),
            description: z.string().optional(),
          }),
        ),
      }),
    ),
  })
  .describe('The presets a batch may run, in the order the configuration lists them.');

export function registerPresetRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const presets = presetsOf(ctx.settings);
  const list: z.infer<typeof PresetList> = {
    presets: [...presets.values()].map((p) => ({
      name: p.name,
      description: p.description ?? null,
      kind: p.sample.steps ? 'pipeline' : p.sample.processor,
      params: Object.entries(p.params).map(([name, param]) => ({
        name,
        type: param.type,
        required: param.default === undefined,
        ...(param.enum ? { enum: param.enum } : {}),
        ...(param.enum ? {} : { pattern: param.pattern ?? DEFAULT_PATTERN }),
        ...(param.default !== undefined ? { default: param.default } : {}),
        ...(param.description ? { description: param.description } : {}),
      })),
    })),
  };
  typed(app).get(
    '/v1/presets',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Processor presets',
        description: 'The processors a batch may run (POST /v1/batches `preset`), with their parameters.',
        tags: ['presets'],
        response: { 200: PresetList, ...COMMON_PROBLEMS },
      },
    },
    () => list,
  );
}

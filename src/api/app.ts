// The service's HTTP application: Fastify with zod schemas (requests validated, the OpenAPI document
// generated from the same schemas), bearer-token authentication by route scope, per-caller rate
// limits, CORS only when configured, and every error as application/problem+json.
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { ApiScope } from '../config/api';
import { requireScope, type Principal } from './auth';
import type { ApiContext } from './context';
import { hideServerPaths } from './server-paths';
import { PROBLEM_TYPE, problemOf, ApiProblem } from './problem';
import { registerBatchRoutes } from './routes/batch';
import { registerConsoleRoutes } from './routes/console';
import { registerDownloadRoutes } from './routes/downloads';
import { registerEventRoutes } from './routes/events';
import { registerItemRoutes } from './routes/items';
import { registerListingRoutes } from './routes/listing';
import { registerOperateRoutes } from './routes/operate';
import { registerPresetRoutes } from './routes/presets';
import { registerSubmitRoutes } from './routes/submit';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; `public`: none, not even a token (the console, the API reference). */
    scope?: ApiScope | 'public';
  }
  interface FastifyRequest {
    principal: Principal;
  }
}

/** The app with zod schemas typing each route's params, query, body and reply. */
export const typed = (app: FastifyInstance) => app.withTypeProvider<ZodTypeProvider>();

/** The app's route modules, each `(app, ctx) => void`; their order is the reference's order. */
const ROUTES: ((app: FastifyInstance, ctx: ApiContext) => void)[] = [
  registerBatchRoutes,
  registerConsoleRoutes,
  registerSubmitRoutes,
  registerListingRoutes,
  registerOperateRoutes,
  registerDownloadRoutes,
  registerItemRoutes,
  registerEventRoutes,
  registerPresetRoutes,
];

export const API_VERSION = '1.0.0';

export async function buildApiApp(ctx: ApiContext): Promise<FastifyInstance> {
  // Typed as Fastify's logger interface, so the app is a plain FastifyInstance for route modules.
  const logger: FastifyBaseLogger = ctx.log;
  const app: FastifyInstance = Fastify({
    loggerInstance: logger,
    bodyLimit: ctx.settings.maxBodyBytes,
    // Node's own request timeout is off under Fastify: without this, a body that never ends
    // would hold its connection (and an upload its folder) for good.
    connectionTimeout: ctx.settings.idleTimeoutMs,
    trustProxy: false,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('principal');

  app.setErrorHandler((err, req, reply) => {
    const { problem, internal } = problemOf(err);
    if (internal) req.log.error({ err }, 'request failed');
    const roots = { ...ctx.settings, home: ctx.home };
    problem.detail = hideServerPaths(problem.detail, roots);
    if (problem.fix) problem.fix = hideServerPaths(problem.fix, roots);
    void reply.code(problem.status).type(PROBLEM_TYPE).send(problem);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .type(PROBLEM_TYPE)
      .send(
        problemOf(
          new ApiProblem(
            404,
            'Not Found',
            `no such resource: ${req.method} ${req.url.split('?')[0]}`,
            'see GET /v1/openapi.json for the routes',
          ),
        ).problem,
      );
  });

  // Every route says what it needs: a route without a scope is a mistake, found at start-up.
  app.addHook('onRoute', (route) => {
    // Open by nature: the reference's assets, HEAD twins of GET routes, CORS preflights.
    const open = route.url.startsWith('/v1/docs') || route.method === 'HEAD' || route.method === 'OPTIONS';
    if (!open && !route.config?.scope)
      throw new Error(`route ${String(route.method)} ${route.url} declares no scope`);
  });
  // Who is calling, before anything else. A refusal is kept and sent after the rate limit has
  // counted the request, so guessing tokens is limited too (by address).
  const refusals = new WeakMap<object, Error>();
  app.addHook('onRequest', (req, _reply, done) => {
    const scope = req.routeOptions.config?.scope;
    const url = req.routeOptions.url;
    // Unknown routes (404), the API reference's own assets and CORS preflights need no token.
    if (scope === 'public' || !url || url.startsWith('/v1/docs') || req.method === 'OPTIONS') return done();
    try {
      req.principal = ctx.tokens.authenticate(req.headers.authorization);
      if (scope) requireScope(req.principal, scope);
    } catch (err) {
      refusals.set(req, err as Error);
    }
    done();
  });
  await app.register(rateLimit, {
    max: ctx.settings.rateLimitPerMinute,
    timeWindow: 60_000,
    hook: 'onRequest',
    keyGenerator: (req) =>
      req.principal && ctx.tokens.enabled ? `token:${req.principal.name}` : `ip:${req.ip}`,
    errorResponseBuilder: (_req, context) =>
      Object.assign(new Error(`more than ${context.max} requests per minute`), { statusCode: 429 }),
  });
  app.addHook('preValidation', (req, _reply, done) => done(refusals.get(req)));
  if (ctx.settings.corsOrigins.length > 0) {
    await app.register(cors, { origin: ctx.settings.corsOrigins, methods: ['GET', 'POST', 'PATCH'] });
  }
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'durabatch batch service',
        version: API_VERSION,
        description:
          'Start, watch and operate durable batches. Errors are application/problem+json with a `fix` hint. See docs/api.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/v1/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/v1/openapi.json', { config: { scope: 'public' }, schema: { hide: true } }, () => app.swagger());

  for (const register of ROUTES) register(app, ctx);
  return app;
}

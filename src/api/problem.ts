// Every refusal of the service as `application/problem+json` (RFC 9457), with the same "fix:" hint
// the CLI prints: what happened, why, and what to do. Errors of the layers below (InputError,
// BatchNotFoundError, BatchStalledError, the server's own) are mapped here, once.
import { BatchNotFoundError, describeServerError, InputError } from '../errors';

export const PROBLEM_TYPE = 'application/problem+json';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** What to do about it, as the CLI says it after `fix:`. */
  fix?: string;
  [extra: string]: unknown;
}

/** A refusal the service decides itself: its HTTP status, a short title, the detail and a fix. */
export class ApiProblem extends Error {
  override readonly name = 'ApiProblem';
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly fix?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function body(
  status: number,
  detail: string,
  fix?: string,
  extra: Record<string, unknown> = {},
): ProblemBody {
  const title = TITLES[status] ?? 'Error';
  return {
    type: `https://durabatch.dev/problems/${title.toLowerCase().replace(/\s+/g, '-')}`,
    title,
    status,
    detail,
    ...(fix ? { fix } : {}),
    ...extra,
  };
}

/** The first line of an InputError (its message without the appended fix). */
const firstLine = (message: string) => message.split('\n  fix: ')[0] ?? message;

/** The problem an error becomes; `internal` is true when the service itself failed (logged). */
export function problemOf(err: unknown): { problem: ProblemBody; internal: boolean } {
  if (err instanceof ApiProblem)
    return { problem: body(err.status, err.message, err.fix, err.extra), internal: false };
  if (err instanceof BatchNotFoundError) {
    return {
      problem: body(404, `no batch with id "${err.batchId}"`, 'list the batches with GET /v1/batches'),
      internal: false,
    };
  }
  if (err instanceof InputError)
    return { problem: body(400, firstLine(err.message), err.hint), internal: false };
  const e = err as {
    name?: string;
    code?: string;
    statusCode?: number;
    message?: string;
    validation?: unknown;
  };
  if (e.name === 'WorkflowNotFoundError') {
    return {
      problem: body(404, 'no batch with that id', 'list the batches with GET /v1/batches'),
      internal: false,
    };
  }
  if (e.name === 'BatchStalledError') {
    const stall = (err as { stall?: { message: string; hint: string; kind: string } }).stall;
    return {
      problem: body(503, stall?.message ?? String(e.message), stall?.hint, { stalled: stall?.kind }),
      internal: false,
    };
  }
  if (e.name === 'WorkflowUpdateFailedError') {
    const cause = (err as { cause?: { message?: string; type?: string } }).cause;
    const detail = `rejected by the batch: ${cause?.message ?? e.message}`;
    // The batch's own refusals (workflows/batch-handlers.ts): an item it does not have is not there.
    if (cause?.type === 'UnknownItem')
      return {
        problem: body(404, detail, 'list the batch’s items with GET /v1/batches/{id}/items'),
        internal: false,
      };
    const fix =
      cause?.type === 'ItemFinished'
        ? 'nothing to do: the item has its outcome (see GET /v1/batches/{id}/items)'
        : 'see the batch’s status with GET /v1/batches/{id}';
    return { problem: body(409, detail, fix), internal: false };
  }
  // Fastify's own refusals: schema validation, body size, content type, rate limit.
  if (e.validation) {
    return {
      problem: body(400, `invalid request: ${e.message}`, 'see the request schema in GET /v1/openapi.json'),
      internal: false,
    };
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const fix =
      e.statusCode === 413
        ? 'send less: the service limits bodies and uploads (config api.maxBodyBytes, api.maxFiles, api.maxUploadBytes)'
        : e.statusCode === 429
          ? 'slow down: the service limits requests per minute per token (config api.rateLimitPerMinute)'
          : undefined;
    return { problem: body(e.statusCode, e.message ?? 'refused', fix), internal: false };
  }
  const server = describeServerError(err);
  if (server) return { problem: body(503, server.message, server.hint), internal: false };
  return {
    problem: body(500, 'the service failed to answer this request', "see the service's log for the cause"),
    internal: true,
  };
}

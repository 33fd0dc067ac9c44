// durabatch's error classes. Each has an explicit `name` (it becomes the Temporal failure type when
// thrown from an activity) and says what happened, why, and how to fix it.
import { FailureType } from '../workflows/failure-types';

/** Bad input from the user: flags, config, source files. CLI exit code 2. */
export class InputError extends Error {
  override name = 'InputError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(hint ? `${message}\n  fix: ${hint}` : message);
  }
}

/** No batch with this id on the server answering (CLI exit code 2, as an input error). */
export class BatchNotFoundError extends InputError {
  override name = 'BatchNotFoundError';
  constructor(readonly batchId: string) {
    super(`no batch with id "${batchId}"`, 'see `durabatch list`');
  }
}

/** The staged source no longer matches what the batch started with. Never retried. */
export class SourceChangedError extends Error {
  override name = 'SourceChangedError';
}

/**
 * A worker cannot see the batch's staged source or output directory (storage not shared between
 * machines). Items are not failed for it: the batch pauses with this message until resumed.
 */
export class SharedStorageError extends Error {
  override name = 'SharedStorageError';
}

/** No Temporal server could be reached or started. */
export class ServerUnavailableError extends Error {
  override name = 'ServerUnavailableError';
}

/** Error types the item retry policy never retries. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = [
  FailureType.PermanentTargetError,
  FailureType.SourceChangedError,
  FailureType.InputError,
];

/** gRPC status codes, by number, for messages (the ones a Temporal server answers with). */
const GRPC_CODES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

/** A Temporal server's answer, as the user should read it: the real cause and what to do. */
export interface ServerErrorReport {
  message: string;
  hint: string;
  /** Exit code: 2 when the user's settings or input must change, 1 otherwise. */
  exitCode: 1 | 2;
}

/**
 * Describes an error from the Temporal server (the client's ServiceError, or a gRPC error anywhere in
 * the `cause` chain), or returns undefined for other errors. The client wraps the server's answer
 * (e.g. `no mapping defined for search attribute BatchId`) in a generic `Failed to start Workflow`:
 * the report leads with the wrapper and ends with the server's own words and a hint.
 */
export function describeServerError(
  err: unknown,
  ctx: { namespace?: string } = {},
): ServerErrorReport | undefined {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 10; e = (e as { cause?: unknown }).cause)
    chain.push(e);
  const grpc = chain.find(
    (e): e is Error & { code: number; details: string } =>
      typeof (e as { code?: unknown }).code === 'number' &&
      typeof (e as { details?: unknown }).details === 'string',
  );
  if (!grpc && !chain.some((e) => e.name === 'ServiceError')) return undefined;
  const code = grpc?.code;
  const codeName = code === undefined ? undefined : (GRPC_CODES[code] ?? `code ${code}`);
  const serverSays = grpc?.details || chain.at(-1)?.message || String(err);
  const outer = chain[0] && chain[0] !== grpc ? chain[0].message : undefined;
  const message = [outer, `${codeName ? `${codeName}: ` : ''}${serverSays}`].filter(Boolean).join(': ');
  const ns = ctx.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default';
  const text = serverSays.toLowerCase();
  let hint: string;
  let exitCode: 1 | 2 = 1;
  if (/search attribute/.test(text)) {
    hint =
      `durabatch's search attributes are not (yet) known to namespace ${ns}. They are registered on ` +
      'first use and become visible a few seconds later: run the command again; if it persists, check ' +
      'that the namespace has room for custom search attributes (`temporal operator search-attribute list`)';
  } else if (code === 5 && /namespace/.test(text)) {
    hint = `create it (\`temporal operator namespace create --namespace ${ns}\`) or set TEMPORAL_NAMESPACE to an existing one`;
    exitCode = 2;
  } else if (code === 16 || code === 7) {
    hint =
      'the server refused these credentials: check TEMPORAL_API_KEY, or the client certificate and key ' +
      '(TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH) and the namespace they are allowed';
    exitCode = 2;
  } else if (code === 14 || code === 4) {
    hint =
      'the server did not answer in time: check TEMPORAL_ADDRESS, that the server is up, and the TLS ' +
      'settings (TEMPORAL_TLS, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME) match the server';
  } else if (code === 8) {
    hint = 'the server is rate limiting this namespace: lower --concurrency/--rate, or raise its limits';
  } else if (code === 3 || code === 6 || code === 9) {
    hint = 'the server rejected the request as given: the message above says which value';
    exitCode = 2;
  } else {
    hint = "see the Temporal server's log for this request";
  }
  return { message, hint, exitCode };
}

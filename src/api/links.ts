// Where a batch's resources are, as absolute paths under /v1: every answer that names a batch links
// to them, so a client never builds a URL itself.
import { z } from 'zod';

export const BatchLinks = z
  .object({
    self: z.string(),
    items: z.string(),
    events: z.string(),
    report: z.string(),
    webUi: z
      .string()
      .nullable()
      .describe('The batch in the Temporal Web UI, when the service knows its address.'),
  })
  .describe('Links to the batch’s resources (paths under /v1), and its Web UI page.');
export type BatchLinks = z.infer<typeof BatchLinks>;

/** The path of a batch's resource `rest` (e.g. `/report`); the id is encoded, never trusted as a path. */
export const batchPath = (batchId: string, rest = '') => `/v1/batches/${encodeURIComponent(batchId)}${rest}`;

export function batchLinks(batchId: string, webUi: string | null): BatchLinks {
  return {
    self: batchPath(batchId),
    items: batchPath(batchId, '/items'),
    events: batchPath(batchId, '/events'),
    report: batchPath(batchId, '/report'),
    webUi,
  };
}

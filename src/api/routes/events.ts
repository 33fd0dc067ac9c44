// GET /v1/batches/{id}/events: a batch's live events as Server-Sent Events, resumable from any id
// it sent (Last-Event-ID), on this replica or another, before or after a restart.
import { stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { itemJournalFile } from '../../output-dir/item-journal';
import { z } from 'zod';
import { typed } from '../app';
import type { ApiContext } from '../context';
import { batchFiles } from '../events/batch-files';
import { snapshotsOf } from '../events/batch-snapshots';
import { parseEventId, START } from '../events/event-id';
import { streamBatchEvents, type EventSink } from '../events/event-stream';
import { ApiProblem } from '../problem';
import { hideServerPaths } from '../server-paths';
import { BatchIdParam, COMMON_PROBLEMS, Problem } from '../schemas';

const EventsQuery = z.object({
  lastEventId: z
    .string()
    .max(64)
    .optional()
    .describe('Resume after this event id (for clients that cannot send the Last-Event-ID header).'),
});

export function registerEventRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const snapshots = snapshotsOf(ctx);
  // Open streams by caller: each polls its batch's files and state for as long as it stays open,
  // so one token cannot hold the process's file reads and queries with thousands of them.
  const open = new Map<string, number>();
  typed(app).get(
    '/v1/batches/:id/events',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'A batch’s live events (Server-Sent Events)',
        description: [
          'text/event-stream. `counts`: the status (as GET /v1/batches/{id}), at connect and whenever a count changes (checked about twice a second).',
          '`item`: a transition of one item `{ key, index, state: started|retrying|succeeded|failed|cancelled|skipped, attempt, error?, errorType?, latencyMs?, step?, at }`.',
          '`progress`: `{ key, index, percent, at }` as the processor reports it. `end`: the final status, after every other event; the stream then closes.',
          'Every event has an id; reconnecting with `Last-Event-ID` (or `?lastEventId=`) resumes after it with no transition lost or repeated, on any replica. A comment every 15 s keeps idle connections open.',
        ].join(' '),
        tags: ['batches'],
        params: BatchIdParam,
        querystring: EventsQuery,
        response: { 200: z.string().describe('text/event-stream'), 404: Problem, ...COMMON_PROBLEMS },
      },
    },
    async (req, reply) => {
      const header = req.headers['last-event-id'];
      const given = (Array.isArray(header) ? header[0] : header) ?? req.query.lastEventId;
      const cursor = given === undefined || given === '' ? START : parseEventId(given);
      if (!cursor)
        throw new ApiProblem(
          400,
          'Bad Last-Event-ID',
          `Last-Event-ID "${given!.slice(0, 64)}" is not an id this stream sent`,
          'reconnect with the id of the last event received, or without Last-Event-ID to start from the beginning',
        );
      const files = await batchFiles(ctx.clientFor(req.principal), req.params.id, ctx.storageRoots);
      // The journal only grows: an offset past its end was never sent for this batch (an id of
      // another batch would skip this one's events).
      const journalSize = await stat(itemJournalFile(files.outputDir)).then(
        (s) => s.size,
        () => 0,
      );
      if (cursor.journal > journalSize)
        throw new ApiProblem(
          400,
          'Bad Last-Event-ID',
          `Last-Event-ID "${given}" is past the events of batch "${files.batchId}": it was not sent for this batch`,
          'reconnect with the id of the last event received from this batch, or without Last-Event-ID to start from the beginning',
        );
      const caller = ctx.tokens.enabled ? `token:${req.principal.name}` : `ip:${req.ip}`;
      const max = ctx.settings.maxEventStreams;
      if ((open.get(caller) ?? 0) >= max)
        throw new ApiProblem(
          429,
          'Too Many Requests',
          `${ctx.tokens.enabled ? `token "${req.principal.name}"` : 'this address'} has ${max} events streams open already`,
          'close a stream you no longer read before opening another (config api.maxEventStreams)',
          { limit: max },
        );
      open.set(caller, (open.get(caller) ?? 0) + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        const n = (open.get(caller) ?? 1) - 1;
        if (n > 0) open.set(caller, n);
        else open.delete(caller);
      };

      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const stop = new AbortController();
      // A closed connection frees its place at once, even while a query of its last round is out.
      raw.on('close', () => {
        release();
        stop.abort();
      });
      const write = (text: string) =>
        new Promise<void>((resolve) => {
          if (stop.signal.aborted || raw.write(text)) return resolve();
          const done = () => {
            raw.off('drain', done);
            stop.signal.removeEventListener('abort', done);
            resolve();
          };
          raw.on('drain', done);
          stop.signal.addEventListener('abort', done);
        });
      const sink: EventSink = {
        send: (event, data, id) =>
          write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
        comment: (text) => write(`: ${text}\n\n`),
      };
      try {
        await sink.comment('durabatch events');
        await streamBatchEvents({ ctx, snapshots, files, cursor, sink, signal: stop.signal });
      } catch (err) {
        // The status is sent already: say why the stream ends, as an event a client can show.
        req.log.warn({ err, batchId: files.batchId }, 'events stream failed');
        // Past the error handler, so the service's paths are hidden here (a failed read names its file).
        const detail = hideServerPaths((err as Error).message, { ...ctx.settings, home: ctx.home });
        await sink.send('error', { detail }).catch(() => undefined);
      } finally {
        release();
        raw.end();
      }
    },
  );
}

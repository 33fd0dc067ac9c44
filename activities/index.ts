// Activity factory: every real transaction of durabatch. Workflows take the types only
// (`proxyActivities<ReturnType<typeof createActivities>>`); tests pass their own dependencies.
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { findStagedItem, readStagedPage } from '../src/source/page-reader';
import type { Item, ItemOutcome, ProcessorSpec, StagedSourceRef } from '../workflows/types';
import { callHttp } from './processors/http';
import { writeReport, type WriteReportInput } from './results/report';
import { writeResultsPage, type WriteResultsPageInput } from './results/pages';

export interface ActivityDeps {
  logger: Logger;
  /** Where `${env:NAME}` references are resolved (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ReadPageInput {
  source: StagedSourceRef;
  offset: number;
  limit: number;
}

export interface ProcessItemInput {
  batchId: string;
  item: Item;
  processor: ProcessorSpec;
  outputDir: string;
}

export interface ProcessItemResult {
  attempt: number;
  httpStatus?: number;
  output?: string;
  cost?: number;
}

export function createActivities(deps: ActivityDeps) {
  const env = deps.env ?? process.env;
  return {
    async readPage(input: ReadPageInput): Promise<Item[]> {
      return readStagedPage(input.source, input.offset, input.limit);
    },

    async findItem(input: { source: StagedSourceRef; key: string }): Promise<Item | undefined> {
      return findStagedItem(input.source, input.key);
    },

    async processItem(input: ProcessItemInput): Promise<ProcessItemResult> {
      const ctx = Context.current();
      const { attempt } = ctx.info;
      const log = deps.logger.child({ batchId: input.batchId, itemKey: input.item.key, attempt });
      const idempotencyKey = `${input.batchId}:${input.item.key}`;
      log.debug('processing item');
      // Heartbeats let Temporal notice a dead worker within the heartbeat timeout and deliver
      // cancellation to a running item.
      const beat = setInterval(() => ctx.heartbeat(), 1_000);
      try {
        const res = await callHttp({
          spec: input.processor, item: input.item, idempotencyKey, attempt, env, signal: ctx.cancellationSignal,
        });
        log.info({ httpStatus: res.httpStatus }, 'item processed');
        return { attempt, httpStatus: res.httpStatus, output: res.output };
      } catch (err) {
        log.info({ err: (err as Error).message }, 'item attempt failed');
        throw err;
      } finally {
        clearInterval(beat);
      }
    },

    async writeResultsPage(input: WriteResultsPageInput): Promise<void> {
      await writeResultsPage(input);
    },

    async writeReport(input: WriteReportInput): Promise<void> {
      await writeReport(input);
      deps.logger.child({ batchId: input.batchId }).info({ outputDir: input.outputDir }, 'report written');
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ItemOutcome };

// Search attributes of the design brief. The embedded server registers them at start; the client
// registers them on other servers. The Web UI filter `BatchId = "<id>"` lists a batch and its items.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const batchIdKey = defineSearchAttributeKey('BatchId', SearchAttributeType.KEYWORD);
export const batchStatusKey = defineSearchAttributeKey('BatchStatus', SearchAttributeType.KEYWORD);
export const batchProgressKey = defineSearchAttributeKey('BatchProgress', SearchAttributeType.INT);
export const itemKeyKey = defineSearchAttributeKey('ItemKey', SearchAttributeType.KEYWORD);

/** Name → type as `temporal server start-dev --search-attribute` takes them. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Int'> = {
  BatchId: 'Keyword',
  BatchStatus: 'Keyword',
  BatchProgress: 'Int',
  ItemKey: 'Keyword',
};

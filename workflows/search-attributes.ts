// The search attributes of a batch and its items (docs/operations.md). The embedded server
// registers them at start; the client registers them on other servers. The Web UI filter
// `BatchId = "<id>"` lists a batch and its items.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const batchIdKey = defineSearchAttributeKey('BatchId', SearchAttributeType.KEYWORD);
export const batchStatusKey = defineSearchAttributeKey('BatchStatus', SearchAttributeType.KEYWORD);
export const batchProgressKey = defineSearchAttributeKey('BatchProgress', SearchAttributeType.INT);
export const itemKeyKey = defineSearchAttributeKey('ItemKey', SearchAttributeType.KEYWORD);
/** On a page child (page mode): the keys of its items, so `ItemKeys = "P00042"` finds the page. */
export const itemKeysKey = defineSearchAttributeKey('ItemKeys', SearchAttributeType.KEYWORD_LIST);

/** Name → type as `temporal server start-dev --search-attribute` takes them. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Int' | 'KeywordList'> = {
  BatchId: 'Keyword',
  BatchStatus: 'Keyword',
  BatchProgress: 'Int',
  ItemKey: 'Keyword',
  ItemKeys: 'KeywordList',
};

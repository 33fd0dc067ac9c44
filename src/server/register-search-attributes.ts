// Registers durabatch's search attributes on a server that lacks them (the embedded server gets
// them at start; a cluster may not). Idempotent.
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';

const { temporal } = proto;
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

const TYPES = {
  Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  KeywordList: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
} as const;

export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([
    ...Object.keys(existing.customAttributes ?? {}),
    ...Object.keys(existing.systemAttributes ?? {}),
  ]);
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !known.has(name));
  // Listed is not yet usable either: another process (a worker) may have registered them a moment
  // ago. One visibility query tells, and costs nothing once they are usable.
  if (missing.length === 0) {
    await untilUsable(connection, namespace);
    return [];
  }
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, TYPES[type]])),
  });
  // Registered is not yet usable: the server maps the names a moment later, and a workflow started
  // before that fails ("no mapping defined for search attribute BatchId"). Wait until a visibility
  // query naming every attribute is accepted: it goes through the same mapping.
  await untilUsable(connection, namespace);
  return missing.map(([name]) => name);
}

const SAMPLE = { Keyword: '"x"', KeywordList: '"x"', Int: '0' } as const;

async function untilUsable(connection: Connection, namespace: string, timeoutMs = 60_000): Promise<void> {
  const query = Object.entries(SEARCH_ATTRIBUTES)
    .map(([name, type]) => `${name} = ${SAMPLE[type]}`)
    .join(' AND ');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await connection.workflowService.countWorkflowExecutions({ namespace, query });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

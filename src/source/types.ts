// Shapes shared by the source readers and staging. A reader yields records in source order; turning
// them into items (keys, validation, size limits) is staging's job, the same for every format.

export const SOURCE_FORMATS = ['csv', 'jsonl', 'json', 'xlsx', 'dir'] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

/** A row whose JSON is larger than this is staged as invalid: pages of items must stay far below Temporal's 2 MB payload limit. */
export const MAX_ROW_BYTES = 256 * 1024;

export interface SourceRecord {
  /** 1-based line (spreadsheet row for XLSX, position in the sorted listing for a directory). */
  line: number;
  data: Record<string, unknown>;
  /** A row-level problem (unparsable line, wrong field count, too large): the row becomes an invalid item. */
  error?: string;
  /** Directory sources: the directory the item's file must still resolve inside when a worker reads it. */
  within?: string;
  /** Directory sources staged with --follow-symlinks. */
  followsLinks?: true;
}

export interface ReadSourceOptions {
  /** Default: from the extension (a directory is `dir`). */
  format?: SourceFormat;
  /** CSV field delimiter. Default ',' (a tab for .tsv files). */
  delimiter?: string;
  /** Renames fields: source name → item field name. */
  columns?: Record<string, string>;
  /** XLSX sheet name. Default: the first sheet. */
  sheet?: string;
  /** Directory: picomatch glob on the relative path, e.g. `invoices/**` or `*.pdf`. Default: every file not starting with a dot. */
  glob?: string;
  /** Directory: a CSV/JSON/JSONL/XLSX file of per-file metadata. */
  metadata?: string;
  /** Directory: the metadata column holding the file name (relative path or base name). Default `file`. */
  metadataKey?: string;
  /** Directory: read links to files outside the directory too. Default: refused, per file. */
  followSymlinks?: boolean;
  /** Non-fatal findings (e.g. metadata rows naming no file). */
  onWarning?: (message: string) => void;
}

/** Reader-level hooks: tabular formats announce their header so a column mapping can be checked at once. */
export interface FormatHooks {
  onHeader?: (columns: string[]) => void;
}

/**
 * Deepest nesting of objects and arrays in a row (the row itself is level 1). JSON.parse takes any
 * depth, but everything after it that walks a value (JSON.stringify, templates, Temporal's payload
 * converter) recurses: a 10,000-deep row blew the stack while staging. Real rows nest a few levels.
 */
export const MAX_ROW_DEPTH = 32;

/** How deep `value` nests objects and arrays, counted without recursion; stops once past `limit`. */
export function nestingDepth(value: unknown, limit = MAX_ROW_DEPTH): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return deepest;
}

export function rowTooDeep(): string {
  return (
    `nested more than ${MAX_ROW_DEPTH} levels deep (objects and arrays within each other); ` +
    'flatten the row, or give the deep value as a JSON string'
  );
}

export function rowTooLarge(bytes: number): string {
  return `row too large (${Math.ceil(bytes / 1024)} KB > ${MAX_ROW_BYTES / 1024} KB)`;
}

/** A value as text: strings as they are, numbers and booleans printed, objects as JSON, null as ''. */
export function plainText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === undefined || v === null) return '';
  return JSON.stringify(v);
}

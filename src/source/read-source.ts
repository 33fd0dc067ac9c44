// The one entry to every source format: detection by extension (or an explicit format), then the
// format's reader, then the column mapping. Readers yield plain records; staging makes items of them.
import { access, constants, stat } from 'node:fs/promises';
import path from 'node:path';
import { isKeyedJsonObject, readKeyedJsonObject } from './formats/json-keyed';
import { InputError } from '../errors';
import { readCsv } from './formats/csv';
import { listDirectory, readDirectory, type DirListing } from './formats/directory';
import { readJsonArray } from './formats/json-array';
import { readJsonl } from './formats/jsonl';
import { readXlsx } from './formats/xlsx';
import { SOURCE_FORMATS, type ReadSourceOptions, type SourceFormat, type SourceRecord } from './types';

const BY_EXTENSION: Record<string, SourceFormat> = {
  '.csv': 'csv',
  '.tsv': 'csv',
  '.txt': 'csv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.xlsx': 'xlsx',
  '.xlsm': 'xlsx',
};

export function detectFormat(file: string, isDirectory: boolean): SourceFormat {
  if (isDirectory) return 'dir';
  const ext = path.extname(file).toLowerCase();
  const format = BY_EXTENSION[ext];
  if (format) return format;
  if (ext === '.xls')
    throw new InputError(`${file}: the old binary .xls format is not supported`, 'save it as .xlsx or CSV');
  throw new InputError(
    `cannot tell the format of ${file} from its extension${ext ? ` "${ext}"` : ''}`,
    `name it with --format ${SOURCE_FORMATS.join('|')}`,
  );
}

export interface ResolvedSource {
  abs: string;
  format: SourceFormat;
  size: number;
  mtimeMs: number;
}

/** Checks that the source exists, is readable and is the kind (file or directory) its format needs. */
export async function resolveSource(file: string, format?: SourceFormat): Promise<ResolvedSource> {
  const abs = path.resolve(file);
  const st = await stat(abs).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(
      `cannot read source ${abs}: ${err.code ?? err.message}`,
      'check the path and its permissions',
    );
  });
  const isDir = st.isDirectory();
  const resolved = format ?? detectFormat(abs, isDir);
  if (isDir !== (resolved === 'dir')) {
    throw new InputError(
      isDir
        ? `source ${abs} is a directory, not a ${resolved} file`
        : `source ${abs} is not a directory (--format dir)`,
      isDir ? 'give a file, or use --format dir' : 'give a directory, or another --format',
    );
  }
  if (!isDir && !st.isFile())
    throw new InputError(`source ${abs} is not a regular file`, 'give a file or a directory');
  await access(abs, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
    const user = process.getuid ? ` (uid ${process.getuid()})` : '';
    throw new InputError(
      `cannot read source ${abs}: ${err.code ?? err.message}`,
      `make it readable by the user running durabatch${user}, e.g. chmod a+r, or run as its owner`,
    );
  });
  return { abs, format: resolved, size: st.size, mtimeMs: st.mtimeMs };
}

/** The delimiter given, else a tab for .tsv files and a comma for the rest. */
export function csvDelimiter(file: string, delimiter: string | undefined): string {
  return delimiter ?? (path.extname(file).toLowerCase() === '.tsv' ? '\t' : ',');
}

/** Internal: staging lists a directory once (for its fingerprint) and hands the listing over. */
export interface ReadInternals {
  listing?: DirListing;
}

/** Yields the source's records in order: `{ line, data, error? }`, fields renamed by `opts.columns`. */
export async function* readSource(
  file: string,
  opts: ReadSourceOptions = {},
  internals: ReadInternals = {},
): AsyncGenerator<SourceRecord> {
  const src = await resolveSource(file, opts.format);
  const mapping = opts.columns && Object.keys(opts.columns).length > 0 ? opts.columns : undefined;
  const onHeader = mapping ? (header: string[]) => checkMapping(src.abs, header, mapping) : undefined;
  const records = readFormat(src, opts, internals, onHeader);
  if (!mapping) {
    yield* records;
    return;
  }
  const seen = new Set<string>();
  for await (const rec of records) {
    yield { ...rec, data: rename(rec.data, mapping, seen) };
  }
  // Formats without a header cannot check the mapping up front: say which names never occurred.
  for (const from of Object.keys(mapping)) {
    if (!seen.has(from))
      opts.onWarning?.(`${src.abs}: the columns mapping renames "${from}", which no row has`);
  }
}

function readFormat(
  src: ResolvedSource,
  opts: ReadSourceOptions,
  internals: ReadInternals,
  onHeader?: (h: string[]) => void,
) {
  switch (src.format) {
    case 'csv':
      return readCsv(src.abs, { delimiter: csvDelimiter(src.abs, opts.delimiter), onHeader });
    case 'jsonl':
      return readJsonl(src.abs);
    case 'json':
      return readJsonArray(src.abs);
    case 'xlsx':
      return readXlsx(src.abs, { sheet: opts.sheet, onHeader, onWarning: opts.onWarning });
    case 'dir':
      return readDirectorySource(src.abs, opts, internals);
  }
}

async function* readDirectorySource(
  root: string,
  opts: ReadSourceOptions,
  internals: ReadInternals,
): AsyncGenerator<SourceRecord> {
  const metadata = opts.metadata ? (await resolveSource(opts.metadata)).abs : undefined;
  const listing =
    internals.listing ??
    (await listDirectory(root, {
      glob: opts.glob,
      exclude: metadata ? [metadata] : [],
      followSymlinks: opts.followSymlinks,
    }));
  yield* readDirectory(
    listing,
    metadata
      ? {
          file: metadata,
          key: opts.metadataKey,
          // A .json metadata file may also be one object keyed by file name.
          read: async function* (f) {
            if (path.extname(f).toLowerCase() === '.json' && (await isKeyedJsonObject(f))) {
              yield* readKeyedJsonObject(f, opts.metadataKey ?? 'file');
            } else yield* readSource(f, { delimiter: opts.delimiter });
          },
          onWarning: (m) => opts.onWarning?.(m),
        }
      : undefined,
  );
}

function checkMapping(file: string, header: string[], mapping: Record<string, string>): void {
  const missing = Object.keys(mapping).filter((from) => !header.includes(from));
  if (missing.length > 0) {
    throw new InputError(
      `${file}: the columns mapping renames ${missing.map((m) => `"${m}"`).join(', ')}, not in the header`,
      `the header has: ${header.join(', ')}`,
    );
  }
  const renamed = new Set(Object.keys(mapping));
  const clash = Object.values(mapping).filter((to) => header.includes(to) && !renamed.has(to));
  if (clash.length > 0) {
    throw new InputError(
      `${file}: the columns mapping renames onto existing column(s) ${clash.map((c) => `"${c}"`).join(', ')}`,
      'map to new names',
    );
  }
}

/** Renames fields, keeping their order; a renamed field wins over an unrenamed one of the same name. */
function rename(
  data: Record<string, unknown>,
  mapping: Record<string, string>,
  seen: Set<string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    const to = Object.hasOwn(mapping, k) ? mapping[k] : undefined;
    if (to === undefined) {
      if (!(k in out)) out[k] = v;
    } else {
      seen.add(k);
      out[to] = v;
    }
  }
  return out;
}

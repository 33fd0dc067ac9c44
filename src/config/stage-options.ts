// Maps the batch configuration onto staging options, so every caller stages a source the same way.
// Here, not in src/source: the configuration builds on the source's formats, not the reverse.
import type { StageOptions } from '../source/stage';
import type { Config } from './schema';

export function stageOptionsFromConfig(config: Config, home: string): StageOptions {
  return {
    home,
    format: config.format,
    delimiter: config.delimiter,
    columns: config.columns,
    sheet: config.sheet,
    glob: config.glob,
    followSymlinks: config.followSymlinks,
    metadata: config.metadata,
    metadataKey: config.metadataKey,
    idColumn: config.idColumn,
    schema: config.schema,
    strict: config.strict,
    select: { rows: config.rows, keys: config.keys, where: config.where, limit: config.limit },
    ...(filesFor(config) ? { filesFor: filesFor(config) } : {}),
  };
}

/** The setting that sends each item's file (raw/multipart upload), if any: it needs a directory source. */
function filesFor(config: Config): string | undefined {
  const sends = (mode: string | undefined) => mode === 'raw' || mode === 'multipart';
  if (!config.steps)
    return config.processor === 'http' && sends(config.http.bodyMode)
      ? `--body-mode ${config.http.bodyMode}`
      : undefined;
  const step = config.steps.find((s) => s.processor === 'http' && sends(s.http?.bodyMode));
  return step ? `step "${step.name}" (http.bodyMode ${step.http?.bodyMode})` : undefined;
}

// Maps the batch configuration onto staging options, so every caller stages a source the same way.
import type { Config } from '../config/schema';
import type { StageOptions } from './stage';

export function stageOptionsFromConfig(config: Config, home: string): StageOptions {
  return {
    home,
    format: config.format,
    delimiter: config.delimiter,
    columns: config.columns,
    sheet: config.sheet,
    glob: config.glob,
    metadata: config.metadata,
    metadataKey: config.metadataKey,
    idColumn: config.idColumn,
    schema: config.schema,
    strict: config.strict,
    select: { rows: config.rows, keys: config.keys, where: config.where, limit: config.limit },
  };
}

// A copy of an XLSX source kept with its staging: the results workbook is made from it (other
// sheets, cell types, formats), and the original may have been edited, moved or be out of a
// remote worker's reach by the time the report is written.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors';
import { fingerprintFile } from './fingerprint';
import type { SourceFormat } from './types';

const SOURCE_COPY = 'source.xlsx';

/** Where a staging keeps its source workbook (absent for other formats and older stagings). */
export function sourceCopyOf(stagedDir: string): string {
  return path.join(stagedDir, SOURCE_COPY);
}

/**
 * Copies an XLSX source into the staging being built, and checks the copy is the content the
 * staging's fingerprint names (a file saved again while it was being staged is refused).
 */
export async function keepSourceCopy(
  format: SourceFormat,
  source: string,
  stagingDir: string,
  contentHash: string,
): Promise<void> {
  if (format !== 'xlsx') return;
  const copy = sourceCopyOf(stagingDir);
  await copyFile(source, copy);
  if ((await fingerprintFile(copy)) !== contentHash) {
    throw new InputError(
      `${source} changed while it was being staged`,
      'run the command again once the file is saved and closed',
    );
  }
}

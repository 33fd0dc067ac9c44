// Item outcomes are written in numbered pages. A page's number is fixed by the workflow before the
// activity runs, so a retried write replaces the same file and never duplicates a line.
import type { ItemOutcome } from '../../workflows/types';
import { pageFile } from '../../src/output-dir/layout';
import { writeFileAtomic } from './atomic-file';
import { storageFailure } from './storage-error';

export interface WriteResultsPageInput {
  outputDir: string;
  batchId: string;
  page: number;
  outcomes: ItemOutcome[];
}

export async function writeResultsPage(input: WriteResultsPageInput): Promise<void> {
  const lines = input.outcomes.map((o) => JSON.stringify(o)).join('\n');
  try {
    await writeFileAtomic(pageFile(input.outputDir, input.page), lines.length > 0 ? `${lines}\n` : '');
  } catch (err) {
    throw storageFailure(err, `result page ${input.page}`, input.batchId);
  }
}

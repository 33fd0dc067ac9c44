// Formula neutralisation of CSV cells (results.csv, failed.csv), and its inverse.
//
// failed.csv is also fed back as a source (`durabatch start failed.csv`): there the `'` must not become
// item data (`'+1 555-0100` sent as a phone number). The neutralisation is therefore reversible — a
// cell that already starts with `'`s before a formula character gets one more — and a CSV source whose
// header holds failed.csv's own columns (`_error_type`, `_error_message`, `_attempts`) has one `'`
// removed from exactly those cells when read.

const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** What gets a leading `'`: a formula start, also behind `'`s already there (so it can be undone). */
const NEUTRALISED = /^'*[=+\-@\t\r]/;

/** The cell as a spreadsheet will read it as text, never as a formula. */
export function neutraliseFormula(text: string): string {
  return NEUTRALISED.test(text) && !PLAIN_NUMBER.test(text) ? `'${text}` : text;
}

/** The cell as it was before `neutraliseFormula` (exactly its inverse). */
export function restoreFormula(cell: string): string {
  if (!cell.startsWith("'")) return cell;
  const text = cell.slice(1);
  return NEUTRALISED.test(text) && !PLAIN_NUMBER.test(text) ? text : cell;
}

/** The columns failed.csv ends with: a CSV source holding all three is a durabatch failed.csv. */
export const FAILED_CSV_COLUMNS = ['_error_type', '_error_message', '_attempts'] as const;

/** Whether a CSV header is failed.csv's, whose cells were neutralised when written. */
export function isFailedCsvHeader(header: readonly string[]): boolean {
  return FAILED_CSV_COLUMNS.every((c) => header.includes(c));
}

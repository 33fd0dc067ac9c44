// Cells of results.csv and failed.csv. Those files are opened in spreadsheets, and a cell that starts
// with `=`, `+`, `-` or `@` (or a tab or carriage return, which some spreadsheets skip before reading
// one of those) is run there as a formula: item values and targets' error messages are not ours, so
// such a cell is neutralised OWASP-style by a leading `'` unless the batch keeps formulas on purpose
// (`csvFormulas`). A cell that is just a number (`-5`, `+3.25`, `-1e-3`) is data, not a formula, and
// is written as it is.
// The neutralisation itself, and its inverse for failed.csv fed back as a source: src/util/csv-formulas.ts.
import { stringify } from 'csv-stringify/sync';

import { neutraliseFormula } from '../../src/util/csv-formulas';

export { neutraliseFormula };

/** A value of a source row or an outcome as cell text (objects as JSON). */
export function cellText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export interface CsvOptions {
  /** Write cells that look like formulas as they are (default false: neutralised). */
  formulas?: boolean;
}

/** A CSV line for these cells (RFC 4180 quoting, as csv-stringify writes it). */
export function csvLine(cells: string[], opts: CsvOptions = {}): string {
  return stringify([opts.formulas ? cells : cells.map(neutraliseFormula)]);
}

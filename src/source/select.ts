// Item selection: which of a source's rows become items. Rows left out are not items at all (not
// "skipped"): the batch, its counts and its report know only the selected rows. Applied while the
// source is staged, so the selection is part of the staged copy's identity.
//
//   rows   "10-200", "2,5,9-", "-50": row numbers as a spreadsheet shows them (the header is row 1;
//          JSON/JSONL: the line an element starts on; a directory: its position in the listing)
//   keys   item keys, exactly (a list, or a file with one key per line)
//   where  "field=value", "field!=value", "field>=n", "field<=n", "field~regex"; all must hold
//   limit  at most this many items (the first ones selected)
import { stat } from 'node:fs/promises';
import { InputError } from '../errors';
import { readFileBounded } from '../util/bounded-read';
import { linearRegex, type LinearRegex } from '../util/linear-regex';

/** A --keys file: one key per line; millions of keys fit well below this. */
export const MAX_KEYS_FILE_BYTES = 64 * 1024 * 1024;

export interface SelectionSpec {
  rows?: string;
  /** A comma-separated list of keys, or the path of a file with one key per line. */
  keys?: string;
  where?: string[];
  limit?: number;
}

type Op = '=' | '!=' | '>=' | '<=' | '~';
interface Condition {
  text: string;
  field: string;
  op: Op;
  value: string;
  regex?: LinearRegex;
}

const text = (v: unknown) =>
  v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);

function parseRows(spec: string): [number, number][] {
  return spec.split(',').map((part) => {
    const m = /^\s*(\d*)\s*(-?)\s*(\d*)\s*$/.exec(part);
    const from = m?.[1] ? Number(m[1]) : undefined;
    const to = m?.[3] ? Number(m[3]) : undefined;
    if (!m || (from === undefined && to === undefined) || (m[2] === '' && m[3] !== '')) {
      throw new InputError(
        `--rows "${spec}": "${part.trim()}" is not a row or a range`,
        'use row numbers and ranges as a spreadsheet shows them, e.g. --rows 10-200 or --rows 2,5,9-',
      );
    }
    const range: [number, number] = m[2] === '-' ? [from ?? 1, to ?? Infinity] : [from!, from!];
    if (range[0] > range[1]) throw new InputError(`--rows "${spec}": ${part.trim()} runs backwards`);
    return range;
  });
}

function parseCondition(where: string): Condition {
  const m = /^\s*([^=!<>~]+?)\s*(!=|>=|<=|=|~)\s*(.*)$/.exec(where);
  if (!m) {
    throw new InputError(
      `--where "${where}" is not a condition`,
      'write field=value, field!=value, field>=n, field<=n or field~regex (repeat --where for AND)',
    );
  }
  const [, field, op, value] = m as unknown as [string, string, Op, string];
  if (op !== '~') return { text: where, field, op, value };
  try {
    return { text: where, field, op, value, regex: linearRegex(value) };
  } catch (err) {
    throw new InputError(`--where "${where}": not a valid regular expression (${(err as Error).message})`);
  }
}

function holds(c: Condition, data: Record<string, unknown>): boolean {
  const actual = text(data[c.field]);
  switch (c.op) {
    case '=':
      return actual === c.value;
    case '!=':
      return actual !== c.value;
    case '~':
      return c.regex!.test(actual);
    default: {
      // Numbers compare as numbers (10 > 9), anything else as text (dates in ISO form compare right).
      const a = Number(actual);
      const b = Number(c.value);
      const numeric =
        actual.trim() !== '' && c.value.trim() !== '' && Number.isFinite(a) && Number.isFinite(b);
      const cmp = numeric ? a - b : actual < c.value ? -1 : actual > c.value ? 1 : 0;
      return c.op === '>=' ? cmp >= 0 : cmp <= 0;
    }
  }
}

export class Selection {
  private readonly rows?: [number, number][];
  private readonly conditions: Condition[];
  private readonly wanted?: Set<string>;
  private readonly found = new Set<string>();
  /** Rows read from the source, selected or not. */
  read = 0;
  selected = 0;

  private constructor(
    readonly spec: SelectionSpec,
    keys: string[] | undefined,
  ) {
    this.rows = spec.rows ? parseRows(spec.rows) : undefined;
    this.conditions = (spec.where ?? []).map(parseCondition);
    this.wanted = keys ? new Set(keys) : undefined;
  }

  /** undefined when nothing is selected (every row is an item). */
  static async from(spec: SelectionSpec): Promise<Selection | undefined> {
    if (!spec.rows && !spec.keys && !spec.where?.length && spec.limit === undefined) return undefined;
    return new Selection(spec, spec.keys ? await readKeys(spec.keys) : undefined);
  }

  /** The parts that decide which rows are items, for the staged copy's identity. */
  get identity(): unknown {
    return {
      rows: this.spec.rows,
      keys: this.wanted ? [...this.wanted].sort() : undefined,
      where: this.spec.where,
      limit: this.spec.limit,
    };
  }

  get done(): boolean {
    return this.spec.limit !== undefined && this.selected >= this.spec.limit;
  }

  /** By row number and field values (before the item's key is known). */
  takesRow(line: number, data: Record<string, unknown>, invalid: boolean): boolean {
    this.read += 1;
    if (this.rows && !this.rows.some(([a, b]) => line >= a && line <= b)) return false;
    // A row that could not be read has no fields to test: only a row or key selection can take it.
    if (this.conditions.length > 0 && (invalid || !this.conditions.every((c) => holds(c, data))))
      return false;
    return true;
  }

  /** By the item's key; counts the item selected when it is. */
  takesKey(key: string): boolean {
    if (this.wanted && !this.wanted.has(key)) return false;
    this.found.add(key);
    this.selected += 1;
    return true;
  }

  /** Keys asked for that no selected row had (a typo, or a row another condition left out). */
  missingKeys(): string[] {
    return this.wanted ? [...this.wanted].filter((k) => !this.found.has(k)) : [];
  }

  describe(): string {
    const parts = [
      this.spec.rows && `rows ${this.spec.rows}`,
      this.wanted && `${this.wanted.size} key${this.wanted.size === 1 ? '' : 's'}`,
      ...this.conditions.map((c) => `where ${c.text}`),
      this.spec.limit !== undefined && `limit ${this.spec.limit}`,
    ].filter(Boolean);
    return parts.join(', ');
  }
}

async function readKeys(spec: string): Promise<string[]> {
  const isFile = await stat(spec).then(
    (s) => s.isFile(),
    () => false,
  );
  const list = isFile
    ? (
        await readFileBounded(spec, MAX_KEYS_FILE_BYTES, {
          what: `--keys file ${spec}`,
          hint: 'select fewer keys per batch (split the file), or select with --rows/--where',
        })
      ).split(/\r?\n/)
    : spec.split(',');
  const keys = list.map((k) => k.trim()).filter((k) => k !== '');
  if (keys.length === 0) {
    throw new InputError(
      `--keys "${spec}" names no key`,
      'give keys separated by commas, or a file with one key per line',
    );
  }
  return keys;
}

// The optional item schema of a batch: a small declarative spec (so it fits a JSON config file)
// compiled to a zod schema. CSV values are strings, so typed checks accept the string form
// ("42" is a number, "true" a boolean); JSON and XLSX values may also be real numbers and booleans.
import { z } from 'zod';
import { linearRegex } from '../util/linear-regex';
import { plainText } from './types';

const FIELD_TYPES = ['string', 'number', 'integer', 'boolean', 'date', 'email'] as const;

const isRegex = (p: string) => {
  try {
    linearRegex(p);
    return true;
  } catch {
    return false;
  }
};

export const FieldRule = z
  .strictObject({
    /** Expected type. Default: any value. */
    type: z.enum(FIELD_TYPES).optional(),
    /** Regular expression the value's text must match (unanchored: use ^…$ for the whole value). */
    pattern: z
      .string()
      .refine(isRegex, 'not a valid regular expression (RE2 syntax: no look-around or back-references)')
      .optional(),
    /** Lower bound: the value for number/integer, the length otherwise. */
    min: z.number().optional(),
    /** Upper bound: the value for number/integer, the length otherwise. */
    max: z.number().optional(),
    /** Allowed values (compared as text). */
    enum: z.array(z.string()).min(1).optional(),
  })
  .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, 'min must not exceed max');
export type FieldRule = z.infer<typeof FieldRule>;

export const ItemSchemaSpec = z.strictObject({
  /** Fields that must be present and non-empty. */
  required: z.array(z.string().min(1)).optional(),
  /** Checks per field; an empty value passes unless the field is required. */
  fields: z.record(z.string(), FieldRule).optional(),
});
export type ItemSchemaSpec = z.infer<typeof ItemSchemaSpec>;

const NUMBER = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;
const isEmpty = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
const text = plainText;
const preview = (v: unknown) => {
  const t = JSON.stringify(text(v));
  return t.length > 42 ? `${t.slice(0, 40)}…"` : t;
};

/** The type check with its bounds, applied to the value after its string form is read. */
function typed(rule: FieldRule): z.ZodType {
  const { min, max } = rule;
  const got = (iss: { input?: unknown }) => `, got ${preview(iss.input)}`;
  const bounded = (s: z.ZodNumber | z.ZodString, unit: string) => {
    let out = s;
    if (min !== undefined) out = out.min(min, `must be at least ${min}${unit}`);
    if (max !== undefined) out = out.max(max, `must be at most ${max}${unit}`);
    return out;
  };
  const toNumber = (v: unknown) => (typeof v === 'string' && NUMBER.test(v) ? Number(v) : v);
  switch (rule.type) {
    case 'number':
      return z.preprocess(toNumber, bounded(z.number({ error: (i) => `expected a number${got(i)}` }), ''));
    case 'integer':
      return z.preprocess(
        toNumber,
        bounded(
          z
            .number({ error: (i) => `expected an integer${got(i)}` })
            .int({ error: (i) => `expected an integer${got(i)}` }),
          '',
        ),
      );
    case 'boolean':
      return z.preprocess(
        (v) =>
          typeof v === 'string' && /^\s*(true|false)\s*$/i.test(v) ? v.trim().toLowerCase() === 'true' : v,
        z.boolean({ error: (i) => `expected true or false${got(i)}` }),
      );
    case 'date':
      return z.union([z.iso.date(), z.iso.datetime({ offset: true, local: true })], {
        error: (i) => `expected a date (YYYY-MM-DD or ISO 8601 date-time)${got(i)}`,
      });
    case 'email':
      return (bounded(z.string(), ' characters') as z.ZodString).pipe(
        z.email({ error: (i) => `expected an email address${got(i)}` }),
      );
    case 'string':
      return bounded(z.string({ error: (i) => `expected text${got(i)}` }), ' characters');
    case undefined:
      return z.preprocess(text, bounded(z.string(), ' characters'));
  }
}

function fieldSchema(rule: FieldRule, required: boolean): z.ZodType {
  let checks: z.ZodType = z.unknown();
  if (rule.pattern !== undefined) {
    const re = linearRegex(rule.pattern);
    checks = checks.refine((v) => re.test(text(v)), {
      error: `does not match /${rule.pattern}/`,
      abort: true,
    });
  }
  if (rule.enum) {
    const allowed = new Set(rule.enum);
    const list = rule.enum.length > 10 ? `${rule.enum.slice(0, 10).join(', ')}, …` : rule.enum.join(', ');
    checks = checks.refine((v) => allowed.has(text(v)), {
      error: (i) => `must be one of: ${list} (got ${preview(i.input)})`,
      abort: true,
    });
  }
  const value = checks.pipe(typed(rule));
  // Empty values ('' in CSV, null in JSON) count as absent: only `required` rejects them.
  const present = z
    .unknown()
    .refine((v): boolean => v !== undefined, { error: 'is required', abort: true })
    .pipe(value);
  return z.preprocess((v) => (isEmpty(v) ? undefined : v), required ? present : value.optional());
}

export type ItemValidator = (data: Record<string, unknown>) => string[];

/** Compiles the spec; the validator returns one message per failing field: `field x: reason`. */
export function compileItemSchema(spec: ItemSchemaSpec | undefined): ItemValidator | undefined {
  if (!spec || ((spec.required?.length ?? 0) === 0 && Object.keys(spec.fields ?? {}).length === 0))
    return undefined;
  const required = new Set(spec.required ?? []);
  const names = [...new Set([...(spec.required ?? []), ...Object.keys(spec.fields ?? {})])];
  const shape: Record<string, z.ZodType> = {};
  for (const name of names) shape[name] = fieldSchema(spec.fields?.[name] ?? {}, required.has(name));
  const schema = z.looseObject(shape);
  return (data) => {
    const result = schema.safeParse(data);
    if (result.success) return [];
    const seen = new Set<string>();
    const out: string[] = [];
    for (const issue of result.error.issues) {
      const field = String(issue.path[0] ?? '');
      if (seen.has(field)) continue;
      seen.add(field);
      out.push(`field ${field}: ${issue.message}`);
    }
    return out;
  };
}

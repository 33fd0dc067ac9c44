// `npm run docs:config`: regenerates the settings tables of docs/configuration.md from the config
// schema, so the docs cannot drift from the code (tests/unit/config-docs.test.ts fails when they
// do). zod keeps no JSDoc, so descriptions come from the `/** doc */ field: z...` comments in the
// schema sources; types, ranges and defaults come from the zod schema itself, and the Flag column
// from the flag table (src/cli/batch-flags.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'prettier';
import { z } from 'zod';
import { FLAG_OF_SETTING } from '../src/cli/batch-options';
import { envName, SETTING_GROUPS } from '../src/config/load';
import { StepSettings } from '../src/config/processors';
import { Config } from '../src/config/schema';

const root = fileURLToPath(new URL('..', import.meta.url));
export const DOC_FILE = path.join(root, 'docs', 'configuration.md');
const SOURCES = [
  'src/config/schema.ts',
  'src/config/processors.ts',
  'src/config/allow.ts',
  'src/config/api.ts',
];
export const START = '<!-- settings:start -->';
export const END = '<!-- settings:end -->';

/** `/** doc *\/ name:` pairs keyed `<Declaration>.<field>[.<field>]`, nesting followed by indentation. */
export function parseDocComments(text: string): Map<string, string> {
  const docs = new Map<string, string>();
  let decl: string | undefined;
  let stack: { indent: number; name: string }[] = [];
  let pending: string | undefined;
  let comment: string[] | undefined;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (comment) {
      comment.push(t.replace(/\*\/$/, '').replace(/^\*\s?/, ''));
      if (t.endsWith('*/')) [pending, comment] = [comment.join(' ').replace(/\s+/g, ' ').trim(), undefined];
      continue;
    }
    if (t.startsWith('/**')) {
      comment = [t.slice(3)];
      if (t.endsWith('*/')) [pending, comment] = [t.slice(3, -2).trim(), undefined];
      continue;
    }
    const d = /^(?:export )?const (\w+)\b/.exec(line);
    const field = /^(\s+)(\w+): /.exec(line);
    if (d) [decl, stack] = [d[1], []];
    else if (field?.[1] && field[2] && decl) {
      const indent = field[1].length;
      stack = stack.filter((s) => s.indent < indent).concat({ indent, name: field[2] });
      if (pending) docs.set([decl, ...stack.map((s) => s.name)].join('.'), pending);
    }
    if (t !== '') pending = undefined;
  }
  return docs;
}

/** `field: Declaration.` lines: which declaration documents a settings group (`http` → HttpSettings). */
function groupAliases(text: string): Record<string, string> {
  return Object.fromEntries(
    [...text.matchAll(/^ {2,4}(\w+): ([A-Z]\w+)\./gm)].map((m): [string, string] => [m[1] ?? '', m[2] ?? '']),
  );
}

type Json = {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Json[];
  items?: Json;
  properties?: Record<string, Json>;
  additionalProperties?: Json | boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
};

/** A short type with its allowed range: `integer 1–1000`, `number > 0, ≤ 10000`, `http, command`. */
function typeOf(s: Json | undefined): string {
  if (!s) return 'any';
  if (s.anyOf) {
    const alts = s.anyOf.map(typeOf);
    return alts.includes('boolean') ? 'boolean' : [...new Set(alts)].join(' or ');
  }
  if (s.enum) return s.enum.map(String).join(', ');
  if (s.const !== undefined) return typeof s.const === 'string' ? s.const : JSON.stringify(s.const);
  if (s.type === 'array') return `list of ${typeOf(s.items)}`;
  if (s.type === 'object')
    return s.properties ? 'object' : `map of ${typeOf(s.additionalProperties as Json)}`;
  if (s.type === 'integer' || s.type === 'number') {
    const bounds: string[] = [];
    const max = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
    if (s.minimum !== undefined && max !== undefined) return `${s.type} ${s.minimum}–${max}`;
    if (s.minimum !== undefined) bounds.push(`≥ ${s.minimum}`);
    if (s.exclusiveMinimum !== undefined) bounds.push(`> ${s.exclusiveMinimum}`);
    if (max !== undefined) bounds.push(`≤ ${max}`);
    if (s.exclusiveMaximum !== undefined) bounds.push(`< ${s.exclusiveMaximum}`);
    return [s.type, bounds.join(', ')].filter(Boolean).join(' ');
  }
  return s.type ?? 'any';
}

type Def = { type: string; defaultValue?: unknown; innerType?: { _zod: { def: Def } } };

/** The zod default of a field (through optional/default/prefault wrappers), if it has one. */
function zodDefault(schema: unknown): { value: unknown } | undefined {
  let def = (schema as { _zod?: { def: Def } } | undefined)?._zod?.def;
  while (def) {
    if (def.type === 'default' || def.type === 'prefault') return { value: def.defaultValue };
    def = def.innerType?._zod.def;
  }
  return undefined;
}

/** Splits "… Default 10, at most 1000." into the description and the default's wording. */
function splitDefault(doc: string): { text: string; default?: string } {
  const m = /(^|\.\s+)Default(?::\s*|\s+)(.*?)\.?$/.exec(doc);
  if (!m || m.index === undefined) return { text: doc };
  return { text: doc.slice(0, m.index + (m[1] ? 1 : 0)).trim(), default: m[2] };
}

function showDefault(zod: { value: unknown } | undefined, fromDoc: string | undefined): string {
  if (
    zod &&
    !(typeof zod.value === 'object' && zod.value && Object.keys(zod.value).length === 0 && fromDoc)
  ) {
    return typeof zod.value === 'string' ? `\`${zod.value}\`` : `\`${JSON.stringify(zod.value)}\``;
  }
  return fromDoc ?? '—';
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

interface Row {
  setting: string;
  env?: string;
  flag?: string;
  type: string;
  default: string;
  description: string;
}

/** Input and output JSON schemas of a field: the input says what may be written, but a value
 * normalised before its check (`post` → `POST`) only shows its allowed values on the output side. */
type Both = { in?: Json; out?: Json };

function row(
  setting: string,
  schema: unknown,
  json: Both,
  doc: string | undefined,
  extra: Partial<Row>,
): Row {
  const { text, default: docDefault } = splitDefault(doc ?? '');
  const type = typeOf(json.out?.enum && json.in?.type === 'string' ? json.out : json.in);
  return { setting, type, default: showDefault(zodDefault(schema), docDefault), description: text, ...extra };
}

const jsonSchemas = (schema: z.ZodType): { in: Json; out: Json } => ({
  in: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json,
  out: z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Json,
});
const prop = (json: { in: Json; out: Json }, field: string): Both => ({
  in: json.in.properties?.[field],
  out: json.out.properties?.[field],
});

function table(rows: Row[], columns: (keyof Row)[], titles: string[]): string {
  const lines = [`| ${titles.join(' | ')} |`, `| ${titles.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    const cells = columns.map((c) => {
      const v = r[c] ?? '';
      return cell(c === 'setting' || c === 'env' || c === 'flag' ? (v ? `\`${v}\`` : '') : v);
    });
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The generated part of docs/configuration.md (between the markers), formatted like prettier would. */
export async function renderSettings(): Promise<string> {
  const texts = SOURCES.map((f) => readFileSync(path.join(root, f), 'utf8'));
  const docs = new Map(texts.flatMap((t) => [...parseDocComments(t)]));
  const aliases = groupAliases(texts[0] ?? '');
  const json = jsonSchemas(Config);
  const shape = Config.shape as Record<string, unknown>;

  const rows: Row[] = [];
  for (const [field, schema] of Object.entries(shape)) {
    const group = SETTING_GROUPS[field];
    if (!group) {
      const extra = { env: envName(field), flag: FLAG_OF_SETTING[field] };
      rows.push(row(field, schema, prop(json, field), docs.get(`Config.${field}`), extra));
      continue;
    }
    const docRoot = aliases[field] ?? `Config.${field}`;
    const [propsIn, propsOut] = [json.in, json.out].map((j) => unwrapJson(j.properties?.[field])?.properties);
    for (const [sub, subSchema] of Object.entries(group)) {
      const path = `${field}.${sub}`;
      const extra = { env: envName(path), flag: FLAG_OF_SETTING[path] };
      rows.push(
        row(
          path,
          subSchema,
          { in: propsIn?.[sub], out: propsOut?.[sub] },
          docs.get(`${docRoot}.${sub}`),
          extra,
        ),
      );
    }
  }

  const stepJson = jsonSchemas(StepSettings);
  const stepRows = Object.entries(StepSettings.shape as Record<string, z.ZodType>).map(([field, schema]) => {
    const r = row(field, schema, prop(stepJson, field), stepDoc(field, schema, docs), {});
    // Unset step overrides fall back to the batch's value.
    return r.default === '—' && schema.safeParse(undefined).success && field in Config.shape
      ? { ...r, default: "the batch's" }
      : r;
  });

  const md = [
    '### Batch settings',
    '',
    table(
      rows,
      ['setting', 'env', 'flag', 'type', 'default', 'description'],
      ['Setting', 'Environment variable', 'Flag', 'Type', 'Default', 'Description'],
    ),
    '',
    '### Pipeline steps (`steps`)',
    '',
    'Each entry of `steps` is an object with these fields:',
    '',
    table(
      stepRows,
      ['setting', 'type', 'default', 'description'],
      ['Field', 'Type', 'Default', 'Description'],
    ),
    '',
  ].join('\n');
  return format(md, { parser: 'markdown', singleQuote: true, printWidth: 110 });
}

function unwrapJson(s: Json | undefined): Json | undefined {
  return s?.properties ? s : s?.anyOf?.find((a) => a.properties);
}

/** A step field's own comment; else, for an optional override of a batch setting, that setting's. */
function stepDoc(field: string, schema: z.ZodType, docs: Map<string, string>): string | undefined {
  const own = docs.get(`StepSettings.${field}`);
  if (own) return own;
  if (!schema.safeParse(undefined).success) return 'Required.';
  if (['http', 'command', 'module'].includes(field))
    return `This step's \`${field}\` settings, as in the batch table. Default: none.`;
  const batch = docs.get(`Config.${field}`);
  return batch
    ? `${splitDefault(batch).text} Overrides the batch setting for this step. Default: the batch's.`
    : undefined;
}

/** `doc` with the text between the markers replaced by `generated`. */
export function replaceSettings(doc: string, generated: string): string {
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${DOC_FILE} has no ${START} … ${END} markers`);
  return `${doc.slice(0, a + START.length)}\n\n${generated.trim()}\n\n${doc.slice(b)}`;
}

async function main(): Promise<void> {
  const current = readFileSync(DOC_FILE, 'utf8');
  const next = replaceSettings(current, await renderSettings());
  if (next === current) {
    process.stdout.write(`${path.relative(process.cwd(), DOC_FILE)} is up to date\n`);
    return;
  }
  writeFileSync(DOC_FILE, next);
  process.stdout.write(`${path.relative(process.cwd(), DOC_FILE)} updated\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();

// Templates over item fields. URLs go through RFC 6570 (url-template), so every value is encoded
// and an item value can never change the URL's structure. JSON bodies are templated on the parsed
// JSON tree, so a value can never break out of its string.
import { parseTemplate } from 'url-template';
import type { Item, StepResult } from '../../workflows/types';
import { ItemValueError } from './item-values';

type Primitive = string | number | boolean | null;

const PLACEHOLDER = /\{([A-Za-z0-9_.-]+)\}/g;

const toPrimitive = (v: unknown): Primitive =>
  v === undefined ? null : typeof v === 'object' && v !== null ? JSON.stringify(v) : (v as Primitive);

/** Adds `prefix.a.b` entries for nested objects (depth-limited), so templates can read step outputs. */
function flatten(prefix: string, value: unknown, into: Record<string, Primitive>, depth: number): void {
  into[prefix] = toPrimitive(value);
  if (depth <= 0 || value === null || typeof value !== 'object' || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) flatten(`${prefix}.${k}`, v, into, depth - 1);
}

/**
 * Item fields plus `key` and `index`, and earlier pipeline steps as `steps.<name>.body.<field>`,
 * `steps.<name>.httpStatus`, `steps.<name>.output`: flattened to primitives for expansion.
 */
export function templateContext(
  item: Item,
  steps: Record<string, StepResult> = {},
): Record<string, Primitive> {
  const ctx: Record<string, Primitive> = {};
  for (const [k, v] of Object.entries(item.data)) ctx[k] = toPrimitive(v);
  ctx.key = item.key;
  ctx.index = item.index;
  for (const [name, result] of Object.entries(steps)) {
    flatten(`steps.${name}.body`, result.body, ctx, 4);
    ctx[`steps.${name}.httpStatus`] = result.httpStatus ?? null;
    ctx[`steps.${name}.output`] = result.output ?? null;
  }
  return ctx;
}

/** `.`, `..` and their percent-encoded spellings: URL parsers (WHATWG, hence fetch) remove them. */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/** The dot segments in a URL's path (the part after the authority, before `?` or `#`). */
function dotSegments(url: string): number {
  const rest = url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, '');
  const pathPart = rest.split(/[?#]/, 1)[0] ?? '';
  return pathPart.split(/[/\\]/).filter((seg) => DOT_SEGMENT.test(seg)).length;
}

/** Whether a value, where it lands in a path, would be (or hold) a dot segment. */
const holdsDotSegment = (v: Primitive): boolean =>
  typeof v === 'string' && v.split(/[/\\]/).some((seg) => DOT_SEGMENT.test(seg));

/**
 * Expands a URL template. Percent-encoding cannot make `.` or `..` inert in a path: URL parsers read
 * `%2E%2E` as `..` too, and `…/ok/{v}/details` with `..` is sent as `/details`. So a value that would
 * add a dot segment to the path (simple `{v}`, `{/v}`, or `{+v}` with `a/../b`) fails the item instead
 * of reaching another resource. Values in the query or fragment are untouched.
 */
export function expandUrl(template: string, item: Item, steps?: Record<string, StepResult>): string {
  const parsed = parseTemplate(template);
  const ctx = templateContext(item, steps);
  const url = parsed.expand(ctx);
  if (dotSegments(url) === 0) return url;
  // The template's own dots (a literal `/../`) are its author's; count those with harmless values.
  const harmless = Object.fromEntries(Object.keys(ctx).map((k) => [k, 'x']));
  if (dotSegments(url) <= dotSegments(parsed.expand(harmless))) return url;
  const culprits = Object.entries(ctx)
    .filter(([k, v]) => holdsDotSegment(v) && template.includes(k))
    .map(([k, v]) => `"${k}" = ${JSON.stringify(v)}`);
  throw new ItemValueError(
    `the URL ${JSON.stringify(template)} would change its path: ${culprits.join(', ') || 'an item value'} ` +
      'is a "." or ".." path segment, which the request would resolve away (…/a/../b is sent as …/b). ' +
      'Fix the value in the source, or pass it in the query string ({?field})',
  );
}

/**
 * Fills a JSON body template: a string that is exactly `"{field}"` takes the field's value with its
 * type; placeholders inside longer strings are interpolated as text. No template: the item's data.
 */
export function renderBody(
  template: string | undefined,
  item: Item,
  steps?: Record<string, StepResult>,
): unknown {
  if (template === undefined) return item.data;
  const ctx = templateContext(item, steps);
  const fill = (node: unknown): unknown => {
    if (typeof node === 'string') {
      const whole = /^\{([A-Za-z0-9_.-]+)\}$/.exec(node);
      if (whole) return ctx[whole[1]!] ?? null;
      return node.replace(PLACEHOLDER, (m, name: string) => (name in ctx ? String(ctx[name]) : m));
    }
    if (Array.isArray(node)) return node.map(fill);
    if (node && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, fill(v)]));
    }
    return node;
  };
  return fill(JSON.parse(template));
}

/** Resolves `${env:NAME}` references; runs only inside activities, so secrets never reach history. */
export function resolveEnvRefs(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined)
      throw new Error(
        `environment variable ${name} is not set on the worker (referenced as \${env:${name}})`,
      );
    return v;
  });
}

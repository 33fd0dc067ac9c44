// Templates over item fields. URLs go through RFC 6570 (url-template), so every value is encoded
// and an item value can never change the URL's structure. JSON bodies are templated on the parsed
// JSON tree, so a value can never break out of its string.
import { parseTemplate } from 'url-template';
import type { Item, StepResult } from '../../workflows/types';

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

export function expandUrl(template: string, item: Item, steps?: Record<string, StepResult>): string {
  return parseTemplate(template).expand(templateContext(item, steps));
}

/** Fills `{name}` placeholders in plain text (argv entries, paths): values are inserted verbatim. */
export function fillText(template: string, ctx: Record<string, Primitive>): string {
  return template.replace(PLACEHOLDER, (m, name: string) => (name in ctx ? String(ctx[name] ?? '') : m));
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

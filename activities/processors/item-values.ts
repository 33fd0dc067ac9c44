// The rule behind every template that feeds a program or a path: nothing an item holds becomes an
// option of the program or a path outside the directory the template names. Each `{name}` of a
// template is either one of the fixed names the processor fills itself (its own folders, the
// attempt) or a value the item brought (its fields, its key, its file's name, an earlier step's
// answer). Only the latter are held to the rule; the template's own text is the user's choice.
import path from 'node:path';
import { findValueInCode, type ArgvEntry } from './program-code';

type Primitive = string | number | boolean | null;

const PLACEHOLDER = /\{([A-Za-z0-9_.-]+)\}/g;

/** A template cut into its literal text and its placeholders, in order. */
export type TemplatePart = { text: string } | { name: string };

export function templateParts(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let at = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m.index > at) parts.push({ text: template.slice(at, m.index) });
    parts.push({ name: m[1]! });
    at = m.index + m[0].length;
  }
  if (at < template.length) parts.push({ text: template.slice(at) });
  return parts;
}

/** An item value that would become an option or a path outside its folder: the item fails, not retried. */
export class ItemValueError extends Error {
  override name = 'ItemValueError';
}

export interface ItemValueRules {
  /** Names filled by the processor itself (`documents`, `outputDir`, `attempt`, …): never item data. */
  fixed: ReadonlySet<string>;
  /** Names whose values are directories a path must stay inside (`documents`, `outputDir`). */
  directories: ReadonlySet<string>;
  /**
   * `true`: any item value may start an argument with `-`; a list: the fields that may. The opt-in
   * for programs that really take an option from the data (`command.allowOptionValues`).
   */
  allowOptionValues?: boolean | readonly string[];
  /** Item values may reach ssh's remote command and scp/rsync `host:` paths (`command.allowRemoteValues`). */
  allowRemoteValues?: boolean;
}

const SHOWN_VALUE = 200;
const shown = (v: string): string =>
  JSON.stringify(v.length > SHOWN_VALUE ? `${v.slice(0, SHOWN_VALUE)}…` : v);

/** Path separators of this platform: `\` only separates on Windows. */
const SEPARATOR = process.platform === 'win32' ? /[/\\]/ : /\//;

/**
 * How far above its start a relative path climbs: `a/../..` → 1, `../x` → 1, `a/b` → 0. Every
 * `..` counts, as the file system resolves it (`a/..` is the start again, `..` past it is above).
 */
export function climb(text: string): number {
  let depth = 0;
  let lowest = 0;
  for (const seg of text.split(SEPARATOR)) {
    if (seg === '..') depth -= 1;
    else if (seg !== '' && seg !== '.') depth += 1;
    lowest = Math.min(lowest, depth);
  }
  return lowest === 0 ? 0 : -lowest;
}

const isFixed = (rules: ItemValueRules, name: string): boolean => rules.fixed.has(name);

function optionAllowed(rules: ItemValueRules, name: string): boolean {
  const allow = rules.allowOptionValues;
  return allow === true || (Array.isArray(allow) && allow.includes(name));
}

/**
 * Fills one argv entry (or a path setting such as `cwd`), refusing what the item's values would make
 * of it against the template's intent:
 * - an entry whose first character comes from an item value and is `-` (the program would read an
 *   option: `ssh {host}` with `-oProxyCommand=…`), unless `operand` (a literal `--` came before it),
 *   or the field is allowed by `allowOptionValues`;
 * - an entry where the text after a `/` or after `{documents}`/`{outputDir}` climbs (`..`) higher
 *   than the template's own text does: `{documents}/{name}.txt` with `../../../../tmp/x`.
 * `what` names the entry in messages (`argument 2`, `cwd`).
 */
export function fillChecked(
  template: string,
  vars: Record<string, Primitive>,
  rules: ItemValueRules,
  what: string,
  opts: { operand?: boolean; program?: string } = {},
): string {
  const parts = templateParts(template);
  const values = parts.map((p) =>
    'text' in p ? p.text : p.name in vars ? String(vars[p.name] ?? '') : `{${p.name}}`,
  );
  const filled = values.join('');

  // Option rule: who wrote the entry's first character?
  if (!opts.operand) {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const value = values[i]!;
      if (value === '') continue;
      if ('name' in part && part.name in vars && !isFixed(rules, part.name) && value.startsWith('-')) {
        if (!optionAllowed(rules, part.name)) {
          const program = opts.program ? ` ${opts.program}` : ' the program';
          throw new ItemValueError(
            `${what} (${JSON.stringify(template)}) would start with "-" from field "${part.name}" = ${shown(value)}, ` +
              `so${program} would read it as an option. Put a "--" argument before it if the program ` +
              `takes operands after "--", or allow it with command.allowOptionValues: ["${part.name}"] ` +
              `(--allow-option-values ${part.name}) if this field is meant to hold options`,
          );
        }
      }
      break;
    }
  }

  // Path rule: from each point where the template names a directory, the rest must not climb out of
  // it further than the template's own text makes it.
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const startsDir =
      ('name' in part && rules.directories.has(part.name) && part.name in vars) ||
      ('text' in part && SEPARATOR.test(part.text));
    if (!startsDir) continue;
    // The rest after the directory: after this placeholder, or after the last separator of the text.
    const cut = 'text' in part ? lastSeparator(part.text) + 1 : values[i]!.length;
    const head = values[i]!.slice(cut);
    const rest = head + values.slice(i + 1).join('');
    const own = ('text' in part ? part.text.slice(cut) : '') + ownText(parts.slice(i + 1));
    if (climb(rest) <= climb(own)) continue;
    const culprits = parts
      .slice(i + 1)
      .filter((p): p is { name: string } => 'name' in p && p.name in vars && !isFixed(rules, p.name))
      .map((p) => `"${p.name}" = ${shown(String(vars[p.name] ?? ''))}`);
    const dir =
      'name' in part ? `{${part.name}}` : `"${values.slice(0, i).join('') + part.text.slice(0, cut)}"`;
    throw new ItemValueError(
      `${what} (${JSON.stringify(template)}) would leave ${dir}: ${culprits.join(', ') || 'an item value'} ` +
        `climbs out with "..". An item value cannot make a path leave the directory the template names: ` +
        'fix the value in the source, or use a field that holds only a file name',
    );
  }
  return filled;
}

function lastSeparator(text: string): number {
  let at = -1;
  for (let i = 0; i < text.length; i++) if (SEPARATOR.test(text[i]!)) at = i;
  return at;
}

/** The template's own text, each item value replaced by a harmless one-segment name. */
function ownText(parts: TemplatePart[]): string {
  return parts.map((p) => ('text' in p ? p.text : 'x')).join('');
}

/**
 * Fills a command's argv by the rules above. The program itself never comes from an item value: that
 * would let the data choose what runs. A literal `--` entry (after the program) ends the options for
 * programs that follow the getopt convention: entries after it are operands, so an item value there
 * may start with `-`.
 */
export function fillArgv(
  argv: readonly string[],
  vars: Record<string, Primitive>,
  rules: ItemValueRules,
): string[] {
  const chosen = templateParts(argv[0] ?? '').find(
    (p): p is { name: string } => 'name' in p && p.name in vars && !isFixed(rules, p.name),
  );
  if (chosen) {
    throw new ItemValueError(
      `the program (${JSON.stringify(argv[0])}) would come from field "${chosen.name}" = ` +
        `${shown(String(vars[chosen.name] ?? ''))}: an item value never chooses the program that runs. ` +
        'Name the program in the command, and pass the value as an argument (or branch in a script)',
    );
  }
  refuseValuesInCode(argv, vars, rules);
  const out: string[] = [];
  let operands = false;
  for (const [i, entry] of argv.entries()) {
    out.push(
      fillChecked(entry, vars, rules, i === 0 ? 'the program' : `argument ${i}`, {
        operand: operands,
        program: out[0],
      }),
    );
    if (i > 0 && entry === '--') operands = true;
  }
  return out;
}

/** Each argv entry with the item values placed in it: what program-code.ts judges. */
function argvEntries(
  argv: readonly string[],
  vars: Record<string, Primitive>,
  rules: ItemValueRules,
): ArgvEntry[] {
  return argv.map((text) => {
    let filled = '';
    const values: ArgvEntry['values'] = [];
    for (const p of templateParts(text)) {
      if ('text' in p) {
        filled += p.text;
        continue;
      }
      const value = p.name in vars ? String(vars[p.name] ?? '') : `{${p.name}}`;
      if (p.name in vars && !isFixed(rules, p.name))
        values.push({ name: p.name, start: filled.length, end: filled.length + value.length });
      filled += value;
    }
    return { text, filled, values };
  });
}

/**
 * An item value inside the code a program runs would be code: `sh -c "convert {file} out.png"`
 * with a file named `$(touch /tmp/x).png` runs `touch`; so would `timeout 30 sh -c …`,
 * `perl '-eprint "{x}"'`, ssh's remote command or scp's `host:{file}`. Refused; the script reads the
 * value as an argument instead (`sh -c 'convert "$1" out.png' sh {file}`).
 */
function refuseValuesInCode(
  argv: readonly string[],
  vars: Record<string, Primitive>,
  rules: ItemValueRules,
): void {
  const finding = findValueInCode(argvEntries(argv, vars, rules), { allowRemote: rules.allowRemoteValues });
  if (!finding) return;
  const { at, name, program, where } = finding;
  const value = shown(String(vars[name] ?? ''));
  if (finding.kind === 'program') {
    throw new ItemValueError(
      `argument ${at} (${JSON.stringify(argv[at])}) is the program ${program} runs, and would come from field ` +
        `"${name}" = ${value}: an item value never chooses the program that runs. Name the program in the ` +
        'command, and pass the value as an argument (or branch in a script)',
    );
  }
  if (finding.kind === 'remote') {
    throw new ItemValueError(
      `argument ${at} is ${program === 'ssh' ? 'part of the command ssh sends to the remote shell' : `${where} ${program} hands to a shell on that host`}, ` +
        `and field "${name}" = ${value} would become shell code there: an item value is never code. ` +
        'Give the value to a script on the remote host on its standard input, or call the program from a local ' +
        'script that quotes it for the remote shell (printf %q); if the remote side never runs it through a ' +
        'shell (an SFTP-only scp, say), allow it with command.allowRemoteValues: true (--allow-remote-values)',
    );
  }
  const how = finding.hint ?? `put {${name}} after the code and read it from the program's arguments`;
  throw new ItemValueError(
    `argument ${at} is the code ${program} runs (${where}), and field "${name}" = ${value} would become ` +
      `part of it: an item value is never code. Pass it as an argument instead: ${how}`,
  );
}

/** `path` resolved, and checked to lie inside `dir` (or be it). */
export function isInside(dir: string, target: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(target));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

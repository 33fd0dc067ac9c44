// Where in a command's argv a program reads code rather than data: the code after `sh -c`, `node -e`,
// `perl -e…`, an awk program, the remote command of ssh, the remote path of scp/rsync (`host:…` goes
// to a shell on that host). The program that really runs is found first, through the wrappers that
// run another program (`timeout 30 sh -c …`, `env A=1 bash -c …`, `find . -exec sh -c … \;`); then
// any entry naming an interpreter is checked too, so a wrapper this file does not know
// (`docker exec box sh -c …`) still has its interpreter checked. Works on the argv *templates*: the
// structure is the user's, only the item values placed in it are judged.
import path from 'node:path';

/** One argv entry: its template text and the item values placed in it (spans in the filled text). */
export interface ArgvEntry {
  text: string;
  filled: string;
  values: { name: string; start: number; end: number }[];
}

/** An item value where the program reads code, or the program itself chosen by an item value. */
export interface CodeFinding {
  /** Index of the argv entry. */
  at: number;
  /** The field whose value it is. */
  name: string;
  kind: 'code' | 'remote' | 'program';
  /** The program reading the code (`sh`, `ssh`), and the option or position that makes it code. */
  program: string;
  where: string;
  /** How to pass the value instead, when the program has a usual form for it. */
  hint?: string;
}

interface Scan {
  entries: readonly ArgvEntry[];
  /** Whether remote shells (ssh's command, scp/rsync `host:` paths) may receive item values. */
  allowRemote: boolean;
}

const valueIn = (e: ArgvEntry | undefined) => e?.values[0]?.name;
const programName = (text: string) => path.basename(text);

// ----- wrappers: programs that run the program named after their own options -----

interface Wrapper {
  /** Options whose value is the next argument when not attached (`-u svc`, `--user svc`). */
  valued?: readonly string[];
  /** Options whose value is shell code (`flock -c CODE`, `env -S STRING`). */
  code?: readonly string[];
  /** Operands before the program (`timeout DURATION`, `chroot NEWROOT`, `flock FILE`). */
  operands?: number;
  /** `NAME=VALUE` entries before the program (env). */
  assignments?: boolean;
}

const WRAPPERS: Record<string, Wrapper> = {
  timeout: { valued: ['-s', '--signal', '-k', '--kill-after'], operands: 1 },
  env: {
    valued: ['-u', '--unset', '-C', '--chdir'],
    code: ['-S', '--split-string'],
    assignments: true,
  },
  nice: { valued: ['-n', '--adjustment'] },
  ionice: { valued: ['-c', '--class', '-n', '--classdata', '-P', '--pgid', '-u', '--uid'] },
  sudo: {
    valued: [
      '-u',
      '--user',
      '-g',
      '--group',
      '-C',
      '--close-from',
      '-D',
      '--chdir',
      '-p',
      '--prompt',
      '-r',
      '--role',
      '-t',
      '--type',
      '-T',
      '--command-timeout',
      '-U',
      '--other-user',
      '-R',
      '--chroot',
      '-h',
      '--host',
    ],
  },
  doas: { valued: ['-u', '-C'] },
  busybox: {},
  xargs: {
    valued: [
      '-a',
      '--arg-file',
      '-d',
      '--delimiter',
      '-E',
      '-I',
      '-L',
      '-n',
      '--max-args',
      '-P',
      '--max-procs',
      '-s',
      '--max-chars',
      '--process-slot-var',
    ],
  },
  setsid: {},
  nohup: {},
  stdbuf: { valued: ['-i', '-o', '-e', '--input', '--output', '--error'] },
  flock: {
    valued: ['-w', '--timeout', '--wait', '-E', '--conflict-exit-code'],
    code: ['-c', '--command'],
    operands: 1,
  },
  chroot: { valued: ['--userspec', '--groups'], operands: 1 },
  time: { valued: ['-f', '--format', '-o', '--output'] },
  taskset: { operands: 1 },
  chrt: { valued: ['-T', '--sched-runtime', '-P', '--sched-period', '-D', '--sched-deadline'], operands: 1 },
  runuser: {
    valued: [
      '-u',
      '--user',
      '-g',
      '--group',
      '-G',
      '--supp-group',
      '-s',
      '--shell',
      '-w',
      '--whitelist-environment',
    ],
    code: ['-c', '--command', '--session-command'],
  },
  su: {
    valued: ['-g', '--group', '-G', '--supp-group', '-s', '--shell', '-w', '--whitelist-environment'],
    code: ['-c', '--command', '--session-command'],
  },
  script: {
    valued: [
      '-E',
      '--echo',
      '-I',
      '--log-in',
      '-O',
      '--log-out',
      '-B',
      '--log-io',
      '-T',
      '--log-timing',
      '-m',
      '--logging-format',
      '-o',
      '--output-limit',
    ],
    code: ['-c', '--command'],
  },
};

interface Option {
  /** Index of the entry holding the option. */
  at: number;
  name: string;
  /** Index of the entry holding its value (the same entry when attached), or -1. */
  valueAt: number;
}

/**
 * Parses getopt-style options from `from`: `--name=value`, `--name value` (for `valued` names),
 * `-abc`, `-uSVC`, `-u SVC`. Stops at `--` (skipped) or at the first operand, whose index it returns.
 */
function parseOptions(
  texts: readonly string[],
  from: number,
  valued: readonly string[],
  onOption: (o: Option) => void,
  attachedOnly: readonly string[] = [],
  digitsOnly: readonly string[] = [],
): number {
  let i = from;
  while (i < texts.length) {
    const arg = texts[i]!;
    if (arg === '--') return i + 1;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg : arg.slice(0, eq);
      const separate = eq < 0 && valued.includes(name);
      onOption({ at: i, name, valueAt: eq >= 0 ? i : separate ? i + 1 : -1 });
      i += separate ? 2 : 1;
      continue;
    }
    if (arg.length < 2 || !/^[-+]/.test(arg)) return i;
    let next = i + 1;
    for (let k = 1; k < arg.length; k++) {
      const name = `-${arg[k]}`;
      if (digitsOnly.includes(name)) {
        const digits = /^[0-9a-fA-Fx]*/.exec(arg.slice(k + 1))![0].replace(/[a-fA-Fx].*$/, '');
        onOption({ at: i, name, valueAt: -1 });
        k += digits.length;
        continue;
      }
      if (attachedOnly.includes(name)) {
        // An optional value, attached only (`perl -l0`, `sed -i.bak`): the rest of this argument.
        onOption({ at: i, name, valueAt: k + 1 < arg.length ? i : -1 });
        break;
      }
      if (!valued.includes(name)) {
        onOption({ at: i, name, valueAt: -1 });
        continue;
      }
      const attached = k + 1 < arg.length;
      onOption({ at: i, name, valueAt: attached ? i : i + 1 });
      if (!attached) next = i + 2;
      break;
    }
    i = next;
  }
  return i;
}

/** Index of the program a wrapper runs (or texts.length when none), checking its code options. */
function throughWrapper(scan: Scan, at: number, wrapper: Wrapper, found: CodeFinding[]): number {
  const texts = scan.entries.map((e) => e.text);
  const name = programName(texts[at]!);
  let userMode = false;
  let i = parseOptions(texts, at + 1, [...(wrapper.valued ?? []), ...(wrapper.code ?? [])], (o) => {
    if (o.name === '-u' || o.name === '--user') userMode = true;
    if (!wrapper.code?.includes(o.name) || o.valueAt < 0) return;
    const field = valueIn(scan.entries[o.valueAt]);
    if (field)
      found.push({ at: o.valueAt, name: field, kind: 'code', program: name, where: `after ${o.name}` });
  });
  if ((name === 'su' || (name === 'runuser' && !userMode)) && texts[i - 1] !== '--') {
    // `su USER -c CODE`: su's options may follow its user operand (`runuser -u USER CMD` runs CMD).
    if (texts[i] !== undefined && !texts[i]!.startsWith('-')) {
      parseOptions(texts, i + 1, [...(wrapper.valued ?? []), ...(wrapper.code ?? [])], (o) => {
        if (!wrapper.code?.includes(o.name) || o.valueAt < 0) return;
        const field = valueIn(scan.entries[o.valueAt]);
        if (field)
          found.push({ at: o.valueAt, name: field, kind: 'code', program: name, where: `after ${o.name}` });
      });
      return texts.length; // the rest goes to the user's shell, checked above
    }
  }
  if (wrapper.operands) {
    i += wrapper.operands;
    // `flock FILE -c CODE`: options may follow the wrapper's operands.
    i = parseOptions(texts, i, [...(wrapper.valued ?? []), ...(wrapper.code ?? [])], (o) => {
      if (!wrapper.code?.includes(o.name) || o.valueAt < 0) return;
      const field = valueIn(scan.entries[o.valueAt]);
      if (field)
        found.push({ at: o.valueAt, name: field, kind: 'code', program: name, where: `after ${o.name}` });
    });
  }
  if (wrapper.assignments) while (i < texts.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(texts[i]!)) i += 1;
  return i;
}

// ----- interpreters: where their code is -----

interface Interpreter {
  program: RegExp;
  /** Short letters whose value (attached, else the next argument) is code. */
  codeLetters: string;
  /** Short letters taking a value that is not code (attached, else the next argument). */
  valueLetters?: string;
  /** Short letters taking an optional value, attached only (`perl -Mstrict`, `sed -i.bak`). */
  attachedLetters?: string;
  /** Short letters taking optional digits, attached only (`perl -l0`, `perl -0777`). */
  digitLetters?: string;
  /** The code letters take no attached code: `node -pe CODE` is `-p -e CODE`. */
  codeNextOnly?: boolean;
  /** Long options whose value is code / is not code. */
  codeLong?: readonly string[];
  valueLong?: readonly string[];
  /** Shells: the code is the first operand after the options, not the flag's value. */
  codeIsOperand?: boolean;
  /** awk, sed: the first operand is the program unless a code or file option gave it. */
  programOperand?: { unless: string };
  /** pwsh: every argument after the code flag is code. */
  restIsCode?: boolean;
  /** The shell form of the fix, or how to pass the value instead. */
  how: (program: string, flag: string, field: string) => string;
}

const asArgument = (field: string) =>
  `put {${field}} after the code and read it from the program's arguments`;

const INTERPRETERS: Interpreter[] = [
  {
    program: /^(?:ba|da|z|k|mk|c|tc|fi|a|yash|posh|r|lk)?sh$/,
    codeLetters: 'c',
    valueLetters: 'oO',
    valueLong: ['--rcfile', '--init-file'],
    codeIsOperand: true,
    how: (p, flag, field) => `e.g. ${p} ${flag} '… "$1" …' ${p} {${field}}`,
  },
  {
    program: /^(?:node|nodejs|bun)$/,
    codeLetters: 'ep',
    valueLetters: 'rC',
    codeNextOnly: true,
    codeLong: ['--eval', '--print'],
    valueLong: ['--require', '--import', '--loader', '--experimental-loader', '--input-type', '--conditions'],
    how: (_p, _f, field) => asArgument(field),
  },
  {
    program: /^(?:python|pypy)[0-9.]*$/,
    codeLetters: 'c',
    valueLetters: 'WXm',
    how: (_p, _f, field) => asArgument(field),
  },
  {
    program: /^perl[0-9.]*$/,
    codeLetters: 'eE',
    valueLetters: 'I',
    attachedLetters: 'MmixdDC',
    digitLetters: 'l0',
    how: (_p, _f, field) => asArgument(field),
  },
  {
    program: /^ruby[0-9.]*$/,
    codeLetters: 'e',
    valueLetters: 'IrEC',
    attachedLetters: 'FxKTW0',
    how: (_p, _f, field) => asArgument(field),
  },
  {
    program: /^php[0-9.]*$/,
    codeLetters: 'rBRE',
    valueLetters: 'cdfzt',
    how: (_p, _f, field) => asArgument(field),
  },
  {
    program: /^(?:g|m|n|busybox-)?awk$/,
    codeLetters: 'e',
    valueLetters: 'Fvfi',
    codeLong: ['--source'],
    programOperand: { unless: '-f' },
    how: (_p, _f, field) => `pass it as a variable instead: -v value={${field}} (awk reads it as data)`,
  },
  {
    program: /^g?sed$/,
    codeLetters: 'e',
    valueLetters: 'fl',
    attachedLetters: 'i',
    codeLong: ['--expression'],
    programOperand: { unless: '-f' },
    how: () => 'sed has no way to take a value as data: use a script that reads it as an argument',
  },
];

const POWERSHELL = /^(?:pwsh|powershell)(?:\.exe)?$/i;
const POWERSHELL_CODE = /^-(?:c|command|commandwithargs|cwa|e|ec|encodedcommand)$/i;

/** `catchAll`: the entry is not known to be the program (an unknown wrapper's argument): only code after a code flag counts. */
function interpreterCode(scan: Scan, at: number, found: CodeFinding[], catchAll = false): void {
  const texts = scan.entries.map((e) => e.text);
  const program = programName(texts[at]!);
  if (POWERSHELL.test(program)) {
    const flag = texts.findIndex((t, i) => i > at && POWERSHELL_CODE.test(t));
    if (flag < 0) return;
    for (let i = flag + 1; i < texts.length; i++) {
      const field = valueIn(scan.entries[i]);
      if (field)
        return void found.push({ at: i, name: field, kind: 'code', program, where: `after ${texts[flag]}` });
    }
    return;
  }
  if (program === 'deno' && texts[at + 1] === 'eval') {
    const field = valueIn(scan.entries[at + 2]);
    if (field) found.push({ at: at + 2, name: field, kind: 'code', program, where: 'after eval' });
    return;
  }
  const spec = INTERPRETERS.find((s) => s.program.test(program));
  if (!spec) return;
  const codeShort = [...spec.codeLetters].map((l) => `-${l}`);
  const valueShort = [...(spec.valueLetters ?? '')].map((l) => `-${l}`);
  const attachedShort = [...(spec.attachedLetters ?? '')].map((l) => `-${l}`);
  let codeFlag: string | undefined;
  let programGiven = false;
  const operand = parseOptions(
    texts,
    at + 1,
    spec.codeIsOperand || spec.codeNextOnly
      ? [...valueShort, ...(spec.valueLong ?? []), ...(spec.codeNextOnly ? (spec.codeLong ?? []) : [])]
      : [...codeShort, ...valueShort, ...(spec.codeLong ?? []), ...(spec.valueLong ?? [])],
    (o) => {
      const isCode = codeShort.includes(o.name) || spec.codeLong?.includes(o.name);
      if (o.name === spec.programOperand?.unless) programGiven = true;
      if (!isCode) return;
      programGiven = true;
      if (spec.codeIsOperand) {
        codeFlag = texts[o.at];
        return;
      }
      const valueAt = o.valueAt < 0 && spec.codeNextOnly ? o.at + 1 : o.valueAt;
      if (valueAt < 0) return;
      const field = valueIn(scan.entries[valueAt]);
      if (field)
        found.push({
          at: valueAt,
          name: field,
          kind: 'code',
          program,
          where: `after ${texts[o.at]}`,
          hint: spec.how(program, texts[o.at]!, field),
        });
    },
    attachedShort,
    [...(spec.digitLetters ?? '')].map((l) => `-${l}`),
  );
  const operandField = valueIn(scan.entries[operand]);
  if (spec.codeIsOperand && codeFlag !== undefined && operandField)
    found.push({
      at: operand,
      name: operandField,
      kind: 'code',
      program,
      where: `after ${codeFlag}`,
      hint: spec.how(program, codeFlag, operandField),
    });
  if (spec.programOperand && !catchAll && !programGiven && operandField)
    found.push({
      at: operand,
      name: operandField,
      kind: 'code',
      program,
      where: 'as its program',
      hint: spec.how(program, '', operandField),
    });
}

// ----- remote shells -----

/** ssh options whose value is the next argument (when not attached: `-p 22`, `-p22`). */
const SSH_VALUED = [
  '-B',
  '-b',
  '-c',
  '-D',
  '-E',
  '-e',
  '-F',
  '-I',
  '-i',
  '-J',
  '-L',
  '-l',
  '-m',
  '-O',
  '-o',
  '-P',
  '-p',
  '-Q',
  '-R',
  '-S',
  '-W',
  '-w',
];
const SCP_VALUED = ['-c', '-D', '-F', '-i', '-J', '-l', '-o', '-P', '-S', '-X'];
const RSYNC_VALUED = [
  '-e',
  '--rsh',
  '-f',
  '--filter',
  '-T',
  '--temp-dir',
  '-B',
  '--block-size',
  '-M',
  '--remote-option',
  '--rsync-path',
  '--exclude',
  '--include',
  '--exclude-from',
  '--include-from',
  '--files-from',
  '--partial-dir',
  '--compare-dest',
  '--copy-dest',
  '--link-dest',
  '--log-file',
  '--password-file',
  '--chmod',
  '--chown',
  '--usermap',
  '--groupmap',
  '--backup-dir',
  '--suffix',
  '--out-format',
  '--bwlimit',
  '--timeout',
  '--port',
  '--max-size',
  '--min-size',
  '--max-delete',
  '--iconv',
];

/**
 * ssh joins every argument after the destination with spaces and hands the result to the remote
 * user's shell: an item value there is shell code on the remote host.
 */
function sshCommand(scan: Scan, at: number, found: CodeFinding[]): void {
  const texts = scan.entries.map((e) => e.text);
  const destination = parseOptions(texts, at + 1, SSH_VALUED, () => undefined);
  for (let i = destination + 1; i < texts.length; i++) {
    const field = valueIn(scan.entries[i]);
    if (field)
      return void found.push({
        at: i,
        name: field,
        kind: 'remote',
        program: 'ssh',
        where: 'its remote command',
      });
  }
}

/**
 * scp and rsync hand the path of a `host:path` operand to a shell on that host (scp's legacy
 * protocol, rsync over ssh): an item value after the `:` is shell code there. A value before it (the
 * host) is only held to the option rule; a value that brings the `:` makes a local path remote.
 */
function remotePaths(scan: Scan, at: number, found: CodeFinding[]): void {
  const texts = scan.entries.map((e) => e.text);
  const program = programName(texts[at]!);
  let i = at + 1;
  let operands = false;
  while (i < texts.length) {
    const t = texts[i]!;
    if (!operands && t === '--') {
      operands = true;
      i += 1;
      continue;
    }
    if (!operands && t.startsWith('-') && t.length > 1) {
      const name = t.includes('=') ? t.slice(0, t.indexOf('=')) : t;
      const valued = program === 'rsync' ? RSYNC_VALUED : SCP_VALUED;
      i += valued.includes(name) && !t.includes('=') ? 2 : 1;
      continue;
    }
    const e = scan.entries[i]!;
    const colon = e.filled.indexOf(':');
    const remote = colon > 0 && !e.filled.slice(0, colon).includes('/') && !/^rsync:\/\//.test(e.filled);
    const inPath = remote ? e.values.find((v) => v.end > colon) : undefined;
    if (inPath)
      found.push({ at: i, name: inPath.name, kind: 'remote', program, where: 'a remote path (host:…)' });
    i += 1;
  }
}

// ----- the scan -----

/** find's `-exec`/`-execdir`/`-ok`/`-okdir` commands, each up to its `;` or `+`. */
function findCommands(texts: readonly string[], at: number): number[] {
  const starts: number[] = [];
  for (let i = at + 1; i < texts.length - 1; i++) {
    if (!/^-(?:exec|execdir|ok|okdir)$/.test(texts[i]!)) continue;
    starts.push(i + 1);
  }
  return starts;
}

function checkProgramAt(scan: Scan, at: number, found: CodeFinding[], depth = 0): void {
  const texts = scan.entries.map((e) => e.text);
  if (at >= texts.length || depth > texts.length) return;
  const name = programName(texts[at]!);
  if (at > 0) {
    const field = valueIn(scan.entries[at]);
    if (field)
      return void found.push({
        at,
        name: field,
        kind: 'program',
        program: texts[0]!,
        where: 'the program it runs',
      });
  }
  const wrapper = WRAPPERS[name];
  if (wrapper) return checkProgramAt(scan, throughWrapper(scan, at, wrapper, found), found, depth + 1);
  if (name === 'find') {
    for (const start of findCommands(texts, at)) checkProgramAt(scan, start, found, depth + 1);
    return;
  }
  if (name === 'ssh' && !scan.allowRemote) return sshCommand(scan, at, found);
  if ((name === 'scp' || name === 'rsync') && !scan.allowRemote) return remotePaths(scan, at, found);
  if (name === 'sg' || name === 'watch') {
    // Both run their command through `sh -c`: `sg GROUP CMD…`, `watch [opts] CMD…` (unless -x).
    if (name === 'watch' && texts.slice(at + 1).some((t) => t === '-x' || t === '--exec')) return;
    const first = name === 'sg' ? at + 2 : at + 1;
    for (let i = first; i < texts.length; i++) {
      const field = valueIn(scan.entries[i]);
      if (field && !texts[i]!.startsWith('-'))
        return void found.push({
          at: i,
          name: field,
          kind: 'code',
          program: name,
          where: 'its shell command',
        });
    }
    return;
  }
  interpreterCode(scan, at, found);
}

/**
 * The first item value the program would read as code (or that would choose the program, through a
 * wrapper), or undefined. `allowRemote` lets values into ssh's remote command and scp/rsync remote
 * paths (`command.allowRemoteValues`).
 */
export function findValueInCode(
  entries: readonly ArgvEntry[],
  opts: { allowRemote?: boolean } = {},
): CodeFinding | undefined {
  const scan: Scan = { entries, allowRemote: opts.allowRemote ?? false };
  const found: CodeFinding[] = [];
  checkProgramAt(scan, 0, found);
  // Wrappers not known above (`docker exec box sh -c …`): any entry naming an interpreter is checked.
  for (let i = 1; i < entries.length; i++) {
    const name = programName(entries[i]!.text);
    if (POWERSHELL.test(name) || INTERPRETERS.some((s) => s.program.test(name)))
      interpreterCode(scan, i, found, true);
  }
  return found.sort((a, b) => a.at - b.at)[0];
}

// Writes examples/patients.csv: synthetic, deterministic patient rows for the durabatch demo.
// Names are invented from syllables, emails use example.org and phones the fictional 555-01xx range,
// so no row describes a real person. A few rows deliberately exercise CSV quoting and non-ASCII text.
//   tsx examples/generate-patients.ts [--count 300] [--seed 7] [--out examples/patients.csv]
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mulberry32 } from './target-api/server';

export const HEADER = [
  'patient_id',
  'first_name',
  'last_name',
  'birth_date',
  'sex',
  'email',
  'phone',
  'city',
  'notes',
] as const;

const FIRST_SYLLABLES = ['Ka', 'Lo', 'Mi', 'Zé', 'Ta', 'Ri', 'No', 'Vé', 'Su', 'Da', 'Jü', 'Bo', 'Ne', 'Xa'];
const FIRST_ENDINGS = ['ra', 'lin', 'vo', 'na', 'rek', 'sa', 'mé', 'dor', 'ly', 'ño', 'tis', 'wen'];
const LAST_SYLLABLES = [
  'Bram',
  'Cor',
  'Dü',
  'Fel',
  'Gran',
  'Hol',
  'Ivo',
  'Kes',
  'Mor',
  'Peñ',
  'Quil',
  'Sten',
];
const LAST_ENDINGS = ['wick', 'avel', 'ström', 'dane', 'oza', 'ridge', 'mont', 'ek', 'holt', 'arro', 'by'];
const CITIES = [
  'Brindlemoor',
  'Ashford Vale',
  'Süderholm',
  'Villa Peñasco',
  'Quillon',
  'Marlow Cross',
  'Orrick',
];
const NOTES = [
  '',
  '',
  '',
  '',
  'Prefers morning appointments',
  'Needs an interpreter',
  'New patient',
  'Moved',
];
const SEXES = ['F', 'M', 'X'];

/** Quote a field per RFC 4180 only when it needs it. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** ASCII-only local part for the email address, e.g. 'Zéra' -> 'zera'. */
function asciiSlug(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

export function generatePatients(count: number, seed: number): string[][] {
  const random = mulberry32(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const rows: string[][] = [];

  for (let i = 1; i <= count; i++) {
    const first = pick(FIRST_SYLLABLES) + pick(FIRST_ENDINGS);
    const last = pick(LAST_SYLLABLES) + pick(LAST_ENDINGS);
    const year = 1930 + Math.floor(random() * 90);
    const month = 1 + Math.floor(random() * 12);
    const day = 1 + Math.floor(random() * 28); // 28 keeps every month valid without a calendar
    const birthDate = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
    let city = pick(CITIES);
    let notes = pick(NOTES);

    // Fixed positions so the quoting cases are always present whatever the seed.
    if (i % 50 === 7) city = 'Springfield, North';
    if (i % 75 === 13) notes = 'Goes by "Sam"; confirm at check-in';
    if (i === 21) notes = 'Line one of a note\nline two, after a newline';

    rows.push([
      `P${String(i).padStart(5, '0')}`,
      first,
      last,
      birthDate,
      pick(SEXES),
      `${asciiSlug(first)}.${asciiSlug(last)}.${i}@example.org`,
      `555-01${String(Math.floor(random() * 100)).padStart(2, '0')}`,
      city,
      notes,
    ]);
  }
  return rows;
}

export function toCsv(rows: string[][]): string {
  return [HEADER as readonly string[], ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

// Only write the file when run directly, so tests can import the generator without side effects.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '300' },
      seed: { type: 'string', default: '7' },
      out: { type: 'string', default: fileURLToPath(new URL('./patients.csv', import.meta.url)) },
    },
  });
  const count = Number(values.count);
  const seed = Number(values.seed);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
    console.error('--count must be a positive integer and --seed an integer');
    process.exit(2);
  }
  writeFileSync(values.out, toCsv(generatePatients(count, seed)), 'utf8');
  console.log(JSON.stringify({ event: 'written', file: values.out, rows: count }));
}

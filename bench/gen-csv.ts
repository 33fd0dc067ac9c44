// Writes a CSV of N synthetic rows (unique ids, quoted commas, unicode) for staging benchmarks.
//   npx tsx bench/gen-csv.ts --rows 1000000 --out /tmp/million.csv
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';

export async function generateCsv(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  out.write('id,name,email,amount,created,note\n');
  for (let i = 1; i <= rows; i++) {
    const line =
      `P${String(i).padStart(8, '0')},"Doe, Jane ${i}",jane.${i}@example.com,${(i % 10_000) / 100},` +
      `2024-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')},Zoë ${i % 97}\n`;
    // Respect backpressure: the point of the benchmark is flat memory, the generator included.
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  out.end();
  await finished(out);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      out: { type: 'string', default: 'million.csv' },
    },
  });
  await generateCsv(values.out, Number(values.rows));
  process.stdout.write(JSON.stringify({ file: values.out, rows: Number(values.rows) }) + '\n');
}

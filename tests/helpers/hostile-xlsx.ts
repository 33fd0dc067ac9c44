// Workbooks with hostile sheets the batch never reads: a deflate bomb, rows without `r`, a size
// header that lies. Made from a real exceljs workbook whose other sheets' XML is then replaced.
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { readFile, writeFile } from 'node:fs/promises';
import ExcelJS from 'exceljs';
import yauzl from 'yauzl';
import yazl from 'yazl';

const SHEET_HEAD =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
  '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>';
const SHEET_TAIL = '</sheetData></worksheet>';

/**
 * `Data` (id, name; `rows` rows K1…, read by the batch), then the `others` sheets in order, each
 * with the XML given (sheet2.xml, sheet3.xml, …).
 */
export async function hostileWorkbook(
  file: string,
  rows: number,
  others: { name: string; xml: Buffer }[],
): Promise<void> {
  const wb = new ExcelJS.Workbook();
  const data = wb.addWorksheet('Data');
  data.addRow(['id', 'name']);
  for (let i = 1; i <= rows; i++) data.addRow([`K${i}`, `name ${i}`]);
  for (const o of others) wb.addWorksheet(o.name).addRow(['placeholder']);
  const parts = new Map(others.map((o, i) => [`xl/worksheets/sheet${i + 2}.xml`, o.xml]));
  await replaceEntries(Buffer.from(await wb.xlsx.writeBuffer()), parts, file);
}

/** A sheet of one cell holding `bytes` of `x`: compresses about a thousand times. */
export function bombSheet(bytes: number): Buffer {
  return Buffer.concat([
    Buffer.from(`${SHEET_HEAD}<row r="1"><c r="A1" t="inlineStr"><is><t>`),
    Buffer.alloc(bytes, 'x'),
    Buffer.from(`</t></is></c></row>${SHEET_TAIL}`),
  ]);
}

/** A plain sheet of `rowCount` rows of one text cell. */
export function plainSheet(rowCount: number): Buffer {
  const parts = [SHEET_HEAD];
  for (let n = 1; n <= rowCount; n++)
    parts.push(`<row r="${n}"><c r="A${n}" t="inlineStr"><is><t>note ${n}</t></is></c></row>`);
  parts.push(SHEET_TAIL);
  return Buffer.from(parts.join(''));
}

/**
 * Rewrites the central directory of `file` so that `entry` claims `size` inflated bytes (its local
 * header is left alone, as a stream reader like exceljs's reads it): a size header that lies.
 */
export async function lieAboutSize(file: string, entry: string, size: number): Promise<void> {
  const zip = await readFile(file);
  const name = Buffer.from(entry);
  for (let p = zip.length - 46; p >= 0; p--) {
    if (zip.readUInt32LE(p) !== 0x02014b50) continue;
    const nameLength = zip.readUInt16LE(p + 28);
    if (nameLength === name.length && zip.subarray(p + 46, p + 46 + nameLength).equals(name)) {
      zip.writeUInt32LE(size, p + 24);
      await writeFile(file, zip);
      return;
    }
  }
  throw new Error(`${file} has no central directory entry ${entry}`);
}

/** A sheet whose rows and cells carry no `r` attribute (valid: each follows the previous). */
export function rowsWithoutR(rowCount: number): Buffer {
  const parts = [SHEET_HEAD];
  for (let n = 1; n <= rowCount; n++) parts.push(`<row><c t="inlineStr"><is><t>note ${n}</t></is></c></row>`);
  parts.push(SHEET_TAIL);
  return Buffer.from(parts.join(''));
}

async function replaceEntries(zip: Buffer, parts: Map<string, Buffer>, out: string): Promise<void> {
  const reader = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, z) => (err ? reject(err) : resolve(z))),
  );
  const writer = new yazl.ZipFile();
  const done = finished(writer.outputStream.pipe(createWriteStream(out)));
  await new Promise<void>((resolve, reject) => {
    reader.on('entry', (entry: yauzl.Entry) => {
      if (entry.fileName.endsWith('/')) {
        reader.readEntry(); // a folder entry: zip folders are implied by the names
        return;
      }
      const content = parts.get(entry.fileName);
      if (content) {
        writer.addBuffer(content, entry.fileName, { compressionLevel: 9 });
        reader.readEntry();
        return;
      }
      reader.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          writer.addBuffer(Buffer.concat(chunks), entry.fileName);
          reader.readEntry();
        });
        stream.on('error', reject);
      });
    });
    reader.on('end', resolve);
    reader.on('error', reject);
    reader.readEntry();
  });
  writer.end();
  await done;
}

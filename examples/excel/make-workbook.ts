// Writes the excel example's input: orders.xlsx with an "Orders" sheet of 30 order rows (typed
// cells: numbers, dates) and a "Notes" sheet that is not part of the batch. Row 18 holds a quantity
// typed as words, which the example's schema refuses. Made at run time so no binary is committed.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import ExcelJS from 'exceljs';

export const ORDER_ROWS = 30;
/** The data row (1-based among the orders) whose quantity is "twelve". */
export const BAD_ROW = 17;

const customers = [
  'Ashford Vale Clinic',
  'Orrick Pharmacy',
  'Süderholm Care',
  'Brackenford Labs',
  'Lindqvist GP',
];
const skus = ['GLV-100', 'MSK-220', 'SYR-005', 'BND-310', 'THR-042'];

export async function makeOrdersWorkbook(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const book = new ExcelJS.Workbook();
  const orders = book.addWorksheet('Orders');
  orders.columns = [
    { header: 'order_id', key: 'order_id', width: 12 },
    { header: 'customer', key: 'customer', width: 22 },
    { header: 'sku', key: 'sku', width: 10 },
    { header: 'quantity', key: 'quantity', width: 10 },
    { header: 'unit_price', key: 'unit_price', width: 10, style: { numFmt: '0.00' } },
    { header: 'order_date', key: 'order_date', width: 12, style: { numFmt: 'yyyy-mm-dd' } },
  ];
  for (let i = 1; i <= ORDER_ROWS; i++) {
    orders.addRow({
      order_id: `SO-${String(10000 + i)}`,
      customer: customers[i % customers.length],
      sku: skus[(i * 3) % skus.length],
      quantity: i === BAD_ROW ? 'twelve' : 1 + ((i * 7) % 40),
      unit_price: Math.round((2.5 + ((i * 13) % 90) / 10) * 100) / 100,
      order_date: new Date(Date.UTC(2026, 9, 1 + (i % 28))),
    });
  }
  const notes = book.addWorksheet('Notes');
  notes.addRow(['Orders exported from the shop system for the nightly save.']);
  notes.addRow(['Prices are per unit, in EUR.']);
  const file = path.join(dir, 'orders.xlsx');
  await book.xlsx.writeFile(file);
  return file;
}

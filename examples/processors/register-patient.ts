// A module processor: registers one patient row with the example target API and keeps a receipt.
// Use it as the processor `{ type: 'module', module: '<abs path>/register-patient.ts' }` over
// examples/patients.csv (id column patient_id), with PATIENT_API_URL set on the worker.
// It shows the three things a module should do: validate and fail fast with NonRetryableError,
// send ctx.idempotencyKey so a retried attempt cannot register the patient twice, and heartbeat.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NonRetryableError, type ProcessFunction } from '../../src/sdk';

interface PatientRow {
  patient_id?: string;
  first_name?: string;
  last_name?: string;
  birth_date?: string;
  email?: string;
  city?: string;
}

const REQUIRED = ['patient_id', 'first_name', 'last_name', 'birth_date'] as const;

const registerPatient: ProcessFunction<PatientRow> = async (item, ctx) => {
  const row = item.data;
  // Bad data fails the same way on every attempt: do not spend retries on it.
  const missing = REQUIRED.filter((field) => !row[field]?.trim());
  if (missing.length > 0) {
    throw new NonRetryableError(`row ${item.line}: missing ${missing.join(', ')}`, 'MissingField');
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(row.birth_date!)) {
    throw new NonRetryableError(
      `row ${item.line}: birth_date "${row.birth_date}" is not YYYY-MM-DD`,
      'InvalidField',
    );
  }
  const base = process.env.PATIENT_API_URL;
  if (!base) throw new NonRetryableError('PATIENT_API_URL is not set on the worker', 'ConfigError');
  ctx.heartbeat({ stage: 'validated' });

  const res = await fetch(`${base}/patients`, {
    method: 'POST',
    // Same key on every attempt: a retry after a lost answer returns the first registration.
    headers: { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey },
    body: JSON.stringify({
      externalId: row.patient_id,
      name: { given: row.first_name!.trim(), family: row.last_name!.trim() },
      birthDate: row.birth_date,
      email: row.email || undefined,
      city: row.city || undefined,
    }),
    signal: ctx.signal, // a cancelled item stops waiting for the API
  });
  const text = await res.text();
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    // A plain Error is retried with the batch's backoff.
    throw new Error(`patient API answered ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok)
    throw new NonRetryableError(
      `patient API rejected the row: ${res.status} ${text.slice(0, 200)}`,
      'Rejected',
    );

  const created = JSON.parse(text) as { id: string };
  ctx.heartbeat({ stage: 'registered', id: created.id });
  const replayed = res.headers.get('idempotent-replayed') === 'true';
  await writeFile(
    path.join(ctx.documentsDir, 'receipt.json'),
    `${JSON.stringify({ key: item.key, patientId: created.id, replayed, attempt: ctx.attempt }, null, 2)}\n`,
  );
  ctx.log.info({ key: item.key, patientId: created.id, replayed }, 'patient registered');
  return { patientId: created.id, replayed };
};

export default registerPatient;

// A local stand-in for an IHE affinity domain, for the ihe example: a PIX manager that takes Patient
// Identity Feeds ("PIX Add", ITI-44) and a document repository that takes Provide and Register
// Document Set-b (ITI-41). The messages keep the IHE shapes (HL7v3 interaction ids, XDS submission
// set and document entry, a CDA document) in JSON envelopes over plain HTTP instead of SOAP. Like
// a real endpoint it wants a bearer token, answers some requests 503, applies each Idempotency-Key
// once, and refuses a document for a patient it does not know. It records what took effect.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError, mulberry32, readBody, send } from '../target-api/http-util';

export interface Registration {
  idempotencyKey: string;
  /** The patient id of the sending system (the CSV's patient_id). */
  sourceId: string;
  /** The id this registry assigned: what ITI-41 must name. */
  enterpriseId: string;
  attempts: number;
  effects: number;
}

export interface SubmittedDocument {
  idempotencyKey: string;
  /** `<enterpriseId>^^^&<root>&ISO`, as the document entry named it. */
  patientId: string;
  documentUniqueId: string;
  document: string;
  attempts: number;
  effects: number;
}

export interface IheTarget {
  url: string;
  registrations(): Registration[];
  documents(): SubmittedDocument[];
  stats(): { requests: number; byStatus: Record<string, number> };
  close(): Promise<void>;
}

export const REGISTRY_ROOT = '1.3.6.1.4.1.21367.13.20.3000';

interface Keyed<T> {
  record: T;
  answer?: unknown;
}

export async function startIheTarget(opts: {
  port: number;
  token: string;
  /** Probability of a 503 before anything takes effect (default 0.15). */
  faultRate?: number;
  seed?: number;
}): Promise<IheTarget> {
  const random = mulberry32(opts.seed ?? 7);
  const faultRate = opts.faultRate ?? 0.15;
  const pix = new Map<string, Keyed<Registration>>();
  const bySourceId = new Map<string, Registration>();
  const docs = new Map<string, Keyed<SubmittedDocument>>();
  const byStatus: Record<string, number> = {};
  let requests = 0;

  function pixAdd(key: string, msg: PixAdd): unknown {
    if (msg.interaction !== 'PRPA_IN201301UV02')
      throw new HttpError(
        422,
        `interaction must be PRPA_IN201301UV02 (Patient Activate/Add), got ${msg.interaction}`,
      );
    const id = msg.patient?.id;
    if (!id?.root || !id.extension) throw new HttpError(422, 'patient.id needs root and extension');
    if (!msg.patient?.name?.family || !/^\d{8}$/.test(msg.patient.birthTime ?? ''))
      throw new HttpError(422, 'patient needs name.family and birthTime (YYYYMMDD)');
    // The PIX manager cross-references: the same source patient keeps its enterprise id.
    const known = bySourceId.get(`${id.root}|${id.extension}`);
    const enterpriseId = known?.enterpriseId ?? `EID-${String(bySourceId.size + 1).padStart(6, '0')}`;
    const record = pix.get(key)!.record;
    Object.assign(record, { sourceId: id.extension, enterpriseId, effects: record.effects + 1 });
    bySourceId.set(`${id.root}|${id.extension}`, record);
    return {
      interaction: 'MCCI_IN000002UV01',
      acknowledgement: { typeCode: 'AA' },
      patient: { enterpriseId, root: REGISTRY_ROOT },
    };
  }

  function provideAndRegister(key: string, msg: Iti41): unknown {
    const patientId = msg.documentEntry?.patientId ?? '';
    const enterpriseId = patientId.split('^')[0] ?? '';
    if (![...bySourceId.values()].some((r) => r.enterpriseId === enterpriseId))
      throw new HttpError(422, `XDSUnknownPatientId: ${patientId} is not registered (send PIX Add first)`);
    if (msg.submissionSet?.patientId !== patientId)
      throw new HttpError(
        422,
        'XDSPatientIdDoesNotMatch: submission set and document entry name other patients',
      );
    const document = msg.document ?? '';
    if (!document.includes('<ClinicalDocument') || !document.includes(`extension="${enterpriseId}"`))
      throw new HttpError(422, `the document is not a CDA document for ${enterpriseId}`);
    const record = docs.get(key)!.record;
    const documentUniqueId = msg.documentEntry?.uniqueId ?? '';
    Object.assign(record, { patientId, documentUniqueId, document, effects: record.effects + 1 });
    return {
      registryResponse: { status: 'urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success' },
      documentUniqueId,
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const route = new URL(req.url ?? '/', 'http://localhost').pathname;
    const text = await readBody(req);
    if (req.method !== 'POST') throw new HttpError(405, `${req.method} not allowed`);
    if (req.headers.authorization !== `Bearer ${opts.token}`)
      throw new HttpError(401, 'missing or wrong bearer token');
    const key = String(req.headers['idempotency-key'] ?? '');
    if (!key) throw new HttpError(400, 'Idempotency-Key header is required');
    const table = route === '/pix/add' ? pix : route === '/iti-41' ? docs : undefined;
    if (!table) throw new HttpError(404, `no IHE transaction at ${route}`);
    const entry: Keyed<Registration | SubmittedDocument> = table.get(key) ?? {
      record: { idempotencyKey: key, attempts: 0, effects: 0 } as Registration & SubmittedDocument,
    };
    table.set(key, entry as never);
    entry.record.attempts += 1;
    // A fault comes before any effect, like a gateway in front of the service.
    if (random() < faultRate) throw new HttpError(503, 'service temporarily unavailable');
    if (entry.answer === undefined) {
      const msg = JSON.parse(text) as PixAdd & Iti41;
      entry.answer = route === '/pix/add' ? pixAdd(key, msg) : provideAndRegister(key, msg);
    }
    send(res, 200, entry.answer);
    return 200;
  }

  const server = createServer((req, res) => {
    requests += 1;
    handle(req, res)
      .catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : err instanceof SyntaxError ? 400 : 500;
        send(res, status, { error: err instanceof Error ? err.message : String(err) });
        return status;
      })
      .then(
        (status) => (byStatus[status] = (byStatus[status] ?? 0) + 1),
        () => undefined,
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `port ${opts.port} is taken: the development config sends IHE messages there; stop what listens on it`,
            )
          : err,
      ),
    );
    server.listen(opts.port, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    registrations: () => [...pix.values()].map((e) => ({ ...e.record })),
    documents: () => [...docs.values()].map((e) => ({ ...e.record })),
    stats: () => ({ requests, byStatus: { ...byStatus } }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface PixAdd {
  interaction?: string;
  patient?: {
    id?: { root?: string; extension?: string };
    name?: { given?: string; family?: string };
    birthTime?: string;
  };
}

interface Iti41 {
  submissionSet?: { patientId?: string };
  documentEntry?: { patientId?: string; uniqueId?: string };
  document?: string;
}

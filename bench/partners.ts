import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { feedDocument } from '../simulators/feed-generator';

/**
 * Partners that answer at once, for the benchmark: no validation, no workflow, just the
 * contract's happy path and a clock. They record when each referral arrived, so latency is
 * measured at the partner, as the issue asks (ingest → partner receipt).
 */
export interface BenchPartners {
  feedUrl: string;
  nhsUrl: string;
  charityUrl: string;
  /** Referral id → ms when the partner received it (first time). */
  received: Map<string, number>;
  /** Crime reference → ms when its record was first served by the feed. */
  served: Map<string, number>;
  stats(): {
    feedPages: number;
    nhsPosts: number;
    charityPosts: number;
    cancels: number;
    outcomePosts: number;
    distinctOutcomeKeys: number;
  };
  /**
   * The first body of each kind the bridge sent (a clinical referral, an advocacy referral, a
   * status write-back): what the I/O skeleton sends again, so it costs the partners what the
   * bridge's calls cost them.
   */
  samples(): { nhs?: string; charity?: string; outcome?: string };
  append(records: { crimeReference: string; xml: string }[]): void;
  stop(): Promise<void>;
}

const REFERRAL_SYSTEM = 'https://iasu.example/Id/referral';

export async function startBenchPartners(initial: { crimeReference: string; xml: string }[]): Promise<BenchPartners> {
  const records = [...initial];
  const received = new Map<string, number>();
  const served = new Map<string, number>();
  const outcomeKeys = new Set<string>();
  const counts = { feedPages: 0, nhsPosts: 0, charityPosts: 0, cancels: 0, outcomePosts: 0 };
  const samples: { nhs?: string; charity?: string; outcome?: string } = {};
  let charitySeq = 0;

  const body = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  const json = (res: ServerResponse, status: number, value: unknown, type = 'application/json') => {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/police/flags') {
      counts.feedPages++;
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const limit = Math.min(1000, Number(url.searchParams.get('limit') ?? 500));
      const end = Math.min(records.length, start + limit);
      const now = Date.now();
      for (const r of records.slice(start, end)) if (!served.has(r.crimeReference)) served.set(r.crimeReference, now);
      const xml = feedDocument(
        records.slice(start, end).map((r) => r.xml),
        { cursor: { next: String(end).padStart(16, '0'), more: end < records.length } },
      );
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(xml);
      return;
    }
    const text = await body(req);
    if (req.method === 'POST' && url.pathname === '/police/referral-outcomes') {
      counts.outcomePosts++;
      samples.outcome ??= text;
      const key = req.headers['idempotency-key'];
      if (typeof key === 'string') outcomeKeys.add(key);
      res.writeHead(201).end();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/charity/v1/referrals') {
      counts.charityPosts++;
      samples.charity ??= text;
      const referralId = req.headers['idempotency-key'];
      if (typeof referralId === 'string' && !received.has(referralId)) received.set(referralId, Date.now());
      json(res, 201, { id: `CH-${String(++charitySeq).padStart(6, '0')}`, status: 'RECEIVED' });
      return;
    }
    // Cancels (a later record version withdrew consent or the record): each partner's contract,
    // so the benchmark's withdrawn referrals end CANCELLED, not in the dead-letter queue.
    if (req.method === 'POST' && /^\/charity\/v1\/referrals\/[^/]+\/cancel$/.test(url.pathname)) {
      counts.cancels++;
      json(res, 200, { id: url.pathname.split('/')[4], status: 'CANCELLED' });
      return;
    }
    const search = /^\/nhs\/fhir\/(Task|ServiceRequest)$/.exec(url.pathname);
    if (req.method === 'GET' && search) {
      const resourceType = search[1]!;
      const [system, value] = (url.searchParams.get('identifier') ?? '').split('|');
      const resource = {
        resourceType,
        id: `${resourceType === 'Task' ? 't' : 'sr'}-${value}`,
        meta: { versionId: '1' },
        status: resourceType === 'Task' ? 'requested' : 'active',
        identifier: [{ system, value }],
      };
      json(res, 200, { resourceType: 'Bundle', type: 'searchset', entry: value ? [{ resource }] : [] }, 'application/fhir+json');
      return;
    }
    if (req.method === 'PUT' && /^\/nhs\/fhir\/(Task|ServiceRequest)\/[^/]+$/.test(url.pathname)) {
      if (url.pathname.includes('/Task/')) counts.cancels++;
      json(res, 200, JSON.parse(text), 'application/fhir+json');
      return;
    }
    if (req.method === 'POST' && url.pathname.startsWith('/nhs/fhir')) {
      counts.nhsPosts++;
      samples.nhs ??= text;
      // A transaction: answer each entry with a location, as a FHIR server would.
      const bundle = JSON.parse(text) as {
        entry?: { resource?: { resourceType?: string; identifier?: { system?: string; value?: string }[] } }[];
      };
      const entries = bundle.entry ?? [];
      const referralId = entries
        .map((e) => e.resource)
        .find((r) => r?.resourceType === 'ServiceRequest')
        ?.identifier?.find((i) => i.system === REFERRAL_SYSTEM)?.value;
      if (referralId && !received.has(referralId)) received.set(referralId, Date.now());
      json(
        res,
        200,
        {
          resourceType: 'Bundle',
          type: 'transaction-response',
          entry: entries.map((e, i) => ({
            response: { status: '201 Created', location: `${e.resource?.resourceType}/${i}-${referralId}/_history/1` },
          })),
        },
        'application/fhir+json',
      );
      return;
    }
    res.writeHead(404).end();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    feedUrl: `${base}/police`,
    nhsUrl: `${base}/nhs/fhir`,
    charityUrl: `${base}/charity`,
    received,
    served,
    stats: () => ({ ...counts, distinctOutcomeKeys: outcomeKeys.size }),
    samples: () => ({ ...samples }),
    append: (more) => void records.push(...more),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

import Hapi from '@hapi/hapi';
import { parseStringPromise } from 'xml2js';
import { feedDocument } from './feed-generator';
import { faultInjector, type FaultSettings, type FaultStats } from './faults';

/**
 * The police RMS as police-feed.md describes it: a paged `GET /flags?cursor=&limit=` feed and
 * `POST /referral-outcomes`, idempotent by `Idempotency-Key`. Records can be appended while it
 * runs (new versions arrive), and it counts everything so a run can check for loss or duplicates.
 */
export interface PoliceSimulatorOptions {
  port?: number;
  token?: string;
  force?: string;
  records?: string[];
  /**
   * HTTP faults on `GET /flags` and `POST /referral-outcomes`, decided after the token check and
   * before the request is handled (no page position moves, no outcome is stored), except
   * 'lost-answer' (handled, then the answer is cut). Default kinds: '503' (see ./faults.ts).
   * A failed page is simply read again: the feed itself never loses a record.
   */
  faults?: FaultSettings & { random?: () => number };
}

export interface StoredOutcome {
  key: string;
  referralId: string;
  status: string;
  partner: string;
  crimeReference: string;
}

export interface PoliceSimulator {
  url: string;
  append(records: string[]): void;
  stop(): Promise<void>;
  /** Records served at least once (the feed position). */
  served(): number;
  outcomes(): StoredOutcome[];
  stats(): { pagesServed: number; outcomePosts: number; distinctOutcomeKeys: number; outcomeReplays: number };
  /** Change the HTTP faults while running. */
  setFaults(faults: FaultSettings): void;
  /** Requests that could have failed and the faults injected, by kind. */
  faultStats(): FaultStats;
}

export async function startPoliceFeedSimulator(opts: PoliceSimulatorOptions = {}): Promise<PoliceSimulator> {
  const records: string[] = [...(opts.records ?? [])];
  const outcomes = new Map<string, StoredOutcome>();
  let highWater = 0;
  let pagesServed = 0;
  let outcomePosts = 0;
  let outcomeReplays = 0;

  const server = Hapi.server({ port: opts.port ?? 0, host: '127.0.0.1' });
  const authorised = (header: unknown) => !opts.token || header === `Bearer ${opts.token}`;
  const faults = faultInjector(server, {
    settings: opts.faults,
    defaultKinds: ['503'],
    random: opts.faults?.random ?? Math.random,
    errorResponse: (h, status) => h.response(`RMS ${status}`).code(status).type('text/plain'),
  });
  // Only the two RMS routes, only for a caller with the right token (a 401 stays a 401).
  server.ext('onRequest', async (request, h) => {
    const route =
      (request.method === 'get' && request.path === '/flags') || (request.method === 'post' && request.path === '/referral-outcomes');
    if (!route || !authorised(request.headers.authorization)) return h.continue;
    return (await faults.strike(request, h, faults.draw())) ?? h.continue;
  });

  server.route({
    method: 'GET',
    path: '/flags',
    handler: (request, h) => {
      if (!authorised(request.headers.authorization)) return h.response().code(401);
      const query = request.query as { cursor?: string; limit?: string };
      const start = query.cursor ? Number(query.cursor) : 0;
      const limit = Math.min(1000, Math.max(1, Number(query.limit ?? 500)));
      if (!Number.isInteger(start) || start < 0) return h.response('bad cursor').code(400);
      const end = Math.min(records.length, start + limit);
      highWater = Math.max(highWater, end);
      pagesServed++;
      const body = feedDocument(records.slice(start, end), {
        force: opts.force,
        cursor: { next: String(end).padStart(16, '0'), more: end < records.length },
      });
      return h.response(body).type('application/xml');
    },
  });

  server.route({
    method: 'POST',
    path: '/referral-outcomes',
    options: { payload: { parse: false, output: 'data', maxBytes: 64 * 1024 } },
    handler: async (request, h) => {
      if (!authorised(request.headers.authorization)) return h.response().code(401);
      outcomePosts++;
      const key = request.headers['idempotency-key'];
      if (typeof key !== 'string' || !key) return h.response('Idempotency-Key required').code(400);
      if (outcomes.has(key)) {
        outcomeReplays++;
        return h.response().code(200);
      }
      let doc: { ReferralOutcome?: Record<string, string[]> & { $?: Record<string, string> } };
      try {
        doc = await parseStringPromise(String(request.payload));
      } catch {
        return h.response('malformed XML').code(400);
      }
      // police-feed.md §3: a ReferralOutcome in the feed's namespace, as an RMS would insist.
      const o = doc?.ReferralOutcome;
      if (!o) return h.response('root element must be ReferralOutcome').code(400);
      if (o.$?.xmlns !== 'urn:iasu:police-feed:1') return h.response('ReferralOutcome must be in urn:iasu:police-feed:1').code(400);
      if (!o.ReferralId?.[0] || !o.Status?.[0] || !o.CrimeReference?.[0]) return h.response('incomplete ReferralOutcome').code(400);
      outcomes.set(key, {
        key,
        referralId: o.ReferralId[0],
        status: o.Status[0],
        partner: o.Partner?.[0] ?? '',
        crimeReference: o.CrimeReference[0],
      });
      return h.response().code(201);
    },
  });

  await server.start();
  return {
    url: server.info.uri,
    append: (more) => void records.push(...more),
    stop: async () => {
      faults.releaseHolds();
      await server.stop({ timeout: 1000 });
    },
    served: () => highWater,
    outcomes: () => [...outcomes.values()],
    stats: () => ({ pagesServed, outcomePosts, distinctOutcomeKeys: outcomes.size, outcomeReplays }),
    setFaults: (settings) => faults.set(settings),
    faultStats: () => faults.stats(),
  };
}

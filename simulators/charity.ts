import { createHash, timingSafeEqual } from 'node:crypto';
import Hapi from '@hapi/hapi';
import Joi from 'joi';
import type { CharityReferralState } from '../src/adapters/charity/charity-client';

/**
 * The charity's advocacy referral API (charity-api.md) for the demo and end-to-end tests:
 * bearer auth, joi validation, idempotency by key, status progression, fault injection.
 * In memory; webhooks are not simulated (yet).
 */
export interface CharitySimulatorOptions {
  port?: number;
  apiKey?: string;
  /** Move every open referral one step this often (unref'd timer). */
  advanceEveryMs?: number;
  faults?: { errorRate?: number; latencyMs?: number };
  random?: () => number;
}

export interface CharitySimulatorStats {
  created: number;
  replays: number;
  conflicts: number;
  distinctKeys: number;
  cancels: number;
}

export interface CharitySimulator {
  /** Base URL without `/v1` (what CHARITY_API_URL holds). */
  url: string;
  stop(): Promise<void>;
  /** Moves every open referral one step; returns how many moved. */
  advance(): number;
  stats(): CharitySimulatorStats;
  referrals(): CharityReferralState[];
}

export const DEFAULT_SIMULATOR_API_KEY = 'charity-sim-key';
const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 200;

interface StoredReferral extends CharityReferralState {
  seq: number;
}

interface IdempotencyEntry {
  bodyHash: string;
  response: { id: string; status: string };
}

const iso = Joi.string().isoDate();
const text = Joi.string().max(2000);
// Strict (no unknown keys): a field the charity must not receive fails loudly in e2e tests.
const referralSchema = Joi.object({
  externalReference: Joi.string().max(100).required(),
  crimeReference: Joi.string().max(50).required(),
  referredAt: iso,
  referrer: Joi.object({
    organisation: text.required(),
    officerCollar: text,
    officerName: text,
    officerEmail: Joi.string().email({ tlds: { allow: false } }),
  }).required(),
  client: Joi.object({
    forename: text.required(),
    surname: text.required(),
    dateOfBirth: Joi.string().pattern(/^\d{4}-\d{2}-\d{2}$/),
    gender: Joi.string().valid('FEMALE', 'MALE', 'OTHER', 'UNKNOWN'),
    language: Joi.string().max(20),
    safeContact: Joi.object({
      phone: text,
      email: Joi.string().email({ tlds: { allow: false } }),
      safeTimeToCall: text,
      voicemailSafe: Joi.boolean(),
    })
      .or('phone', 'email')
      .required(),
    postcodeDistrict: Joi.string().pattern(/^[A-Z]{1,2}[0-9][A-Z0-9]?$/),
  }).required(),
  risk: Joi.object({ tool: text.required(), level: Joi.string().valid('STANDARD', 'MEDIUM', 'HIGH').required(), assessedAt: iso }),
  offence: Joi.object({ homeOfficeClass: text.required(), description: text, committedFrom: text, committedTo: text }).required(),
  perpetrator: Joi.object({ forename: text, surname: text, relationshipToClient: text }),
  consent: Joi.object({ status: Joi.string().valid('GIVEN').required(), recordedAt: iso, recordedBy: text }).required(),
  summary: Joi.string().max(10000),
});

const listQuerySchema = Joi.object({
  updatedSince: iso.required(),
  cursor: Joi.string().max(500),
  limit: Joi.number().integer().min(1).max(MAX_LIST_LIMIT),
});

const cancelSchema = Joi.object({ reason: Joi.string().valid('CONSENT_WITHDRAWN', 'RECORD_WITHDRAWN').required() });

/** The next status for `advance()`; undefined when closed or cancelled. */
function nextStatus(r: StoredReferral): { status: string; statusReason: string | null } | undefined {
  switch (r.status) {
    case 'RECEIVED':
      return { status: 'ALLOCATED', statusReason: null };
    case 'ALLOCATED':
      return { status: 'CONTACTED', statusReason: null };
    case 'CONTACTED':
      // A deterministic share of outcomes that are not engagement, for the demo and tests.
      if (r.seq % 7 === 0) return { status: 'DECLINED', statusReason: null };
      if (r.seq % 7 === 5) return { status: 'UNCONTACTABLE', statusReason: null };
      return { status: 'ENGAGED', statusReason: null };
    case 'ENGAGED':
    case 'DECLINED':
    case 'UNCONTACTABLE':
      // The outcome is kept on the closed referral (referral-lifecycle.md: "outcome kept").
      return { status: 'CLOSED', statusReason: r.status };
    default:
      return undefined;
  }
}

const CLOSED_STATUSES = new Set(['CLOSED', 'CANCELLED']);

function publicState(r: StoredReferral): CharityReferralState {
  return { id: r.id, externalReference: r.externalReference, status: r.status, statusReason: r.statusReason, updatedAt: r.updatedAt };
}

function validationErrors(error: Joi.ValidationError): { errors: { path: string; message: string }[] } {
  return { errors: error.details.map((d) => ({ path: d.path.join('.'), message: d.message })) };
}

/** Cursor = the sort key of the last item returned; opaque to clients. */
function encodeCursor(r: StoredReferral): string {
  return Buffer.from(JSON.stringify([r.updatedAt, r.seq])).toString('base64url');
}

function decodeCursor(cursor: string): [string, number] | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && typeof value[0] === 'string' && typeof value[1] === 'number') return [value[0], value[1]];
  } catch {
    /* fall through */
  }
  return undefined;
}

function byUpdate(a: StoredReferral, b: StoredReferral): number {
  return a.updatedAt < b.updatedAt ? -1 : a.updatedAt > b.updatedAt ? 1 : a.seq - b.seq;
}

export async function startCharitySimulator(opts: CharitySimulatorOptions = {}): Promise<CharitySimulator> {
  const apiKey = opts.apiKey ?? DEFAULT_SIMULATOR_API_KEY;
  const expectedAuth = Buffer.from(`Bearer ${apiKey}`);
  const random = opts.random ?? Math.random;
  const errorRate = opts.faults?.errorRate ?? 0;
  const latencyMs = opts.faults?.latencyMs ?? 0;

  const byId = new Map<string, StoredReferral>();
  const byKey = new Map<string, IdempotencyEntry>();
  const counters = { created: 0, replays: 0, conflicts: 0, cancels: 0 };
  let faultCount = 0;

  const server = Hapi.server({ port: opts.port ?? 0, host: '127.0.0.1', routes: { timeout: { server: false } } });

  server.ext('onRequest', async (request, h) => {
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    const given = Buffer.from(String(request.headers.authorization ?? ''));
    if (given.length !== expectedAuth.length || !timingSafeEqual(given, expectedAuth)) {
      return h.response({ error: 'unauthorized' }).code(401).takeover();
    }
    // Faults hit POSTs before anything else happens, alternating 503 and 429.
    if (request.method === 'post' && errorRate > 0 && random() < errorRate) {
      faultCount += 1;
      return faultCount % 2 === 1
        ? h.response({ error: 'service_unavailable' }).code(503).takeover()
        : h.response({ error: 'rate_limited' }).code(429).header('Retry-After', '1').takeover();
    }
    return h.continue;
  });

  server.route({
    method: 'POST',
    path: '/v1/referrals',
    // The raw bytes: "same body" means the same bytes the first time, as the bridge promises.
    options: { payload: { parse: false, output: 'data', maxBytes: 256 * 1024 } },
    handler: (request, h) => {
      const header: unknown = request.headers['idempotency-key'];
      const key = typeof header === 'string' ? header : '';
      if (!key) return h.response({ error: 'idempotency_key_required' }).code(400);
      const raw = Buffer.isBuffer(request.payload) ? request.payload : Buffer.alloc(0);
      const bodyHash = createHash('sha256').update(raw).digest('hex');

      const seen = byKey.get(key);
      if (seen) {
        if (seen.bodyHash !== bodyHash) {
          counters.conflicts += 1;
          return h.response({ error: 'idempotency_conflict' }).code(409);
        }
        counters.replays += 1;
        return h.response(seen.response).code(200);
      }

      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        return h.response({ errors: [{ path: '', message: 'body is not valid JSON' }] }).code(422);
      }
      const { error } = referralSchema.validate(parsed, { abortEarly: false });
      if (error) return h.response(validationErrors(error)).code(422);

      const seq = byId.size + 1;
      const id = `CH-${String(seq).padStart(6, '0')}`;
      const referral: StoredReferral = {
        seq,
        id,
        externalReference: (parsed as { externalReference: string }).externalReference,
        status: 'RECEIVED',
        statusReason: null,
        updatedAt: new Date().toISOString(),
      };
      byId.set(id, referral);
      const response = { id, status: 'RECEIVED' };
      byKey.set(key, { bodyHash, response });
      counters.created += 1;
      return h.response(response).code(201);
    },
  });

  server.route({
    method: 'GET',
    path: '/v1/referrals/{id}',
    handler: (request, h) => {
      const referral = byId.get(request.params.id as string);
      return referral ? publicState(referral) : h.response({ error: 'not_found' }).code(404);
    },
  });

  server.route({
    method: 'GET',
    path: '/v1/referrals',
    handler: (request, h) => {
      const { error, value } = listQuerySchema.validate(request.query, { abortEarly: false });
      if (error) return h.response(validationErrors(error)).code(400);
      const query = value as { updatedSince: string; cursor?: string; limit?: number };
      const since = new Date(query.updatedSince).toISOString();
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      if (query.cursor !== undefined && !after) return h.response({ error: 'invalid_cursor' }).code(400);

      const limit = query.limit ?? DEFAULT_LIST_LIMIT;
      // Inclusive since: an update in the same millisecond as the last poll is not lost.
      const matching = [...byId.values()]
        .filter((r) => r.updatedAt >= since)
        .filter((r) => !after || r.updatedAt > after[0] || (r.updatedAt === after[0] && r.seq > after[1]))
        .sort(byUpdate);
      const page = matching.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(publicState), nextCursor: matching.length > limit && last ? encodeCursor(last) : null };
    },
  });

  server.route({
    method: 'POST',
    path: '/v1/referrals/{id}/cancel',
    handler: (request, h) => {
      const referral = byId.get(request.params.id as string);
      if (!referral) return h.response({ error: 'not_found' }).code(404);
      const { error, value } = cancelSchema.validate(request.payload, { abortEarly: false });
      if (error) return h.response(validationErrors(error)).code(422);
      if (CLOSED_STATUSES.has(referral.status)) return h.response({ error: 'already_closed', status: referral.status }).code(409);
      referral.status = 'CANCELLED';
      referral.statusReason = (value as { reason: string }).reason;
      referral.updatedAt = new Date().toISOString();
      counters.cancels += 1;
      return publicState(referral);
    },
  });

  await server.start();

  const advance = (): number => {
    const now = new Date().toISOString();
    let moved = 0;
    for (const referral of byId.values()) {
      const next = nextStatus(referral);
      if (!next) continue;
      referral.status = next.status;
      referral.statusReason = next.statusReason;
      referral.updatedAt = now;
      moved += 1;
    }
    return moved;
  };

  const timer = opts.advanceEveryMs ? setInterval(advance, opts.advanceEveryMs) : undefined;
  timer?.unref();

  return {
    url: `http://127.0.0.1:${server.info.port}`,
    async stop() {
      if (timer) clearInterval(timer);
      await server.stop({ timeout: 1000 });
    },
    advance,
    stats: () => ({ ...counters, distinctKeys: byKey.size }),
    referrals: () => [...byId.values()].sort((a, b) => a.seq - b.seq).map(publicState),
  };
}

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import Hapi from '@hapi/hapi';
import Joi from 'joi';
import { faultInjector, type FaultKind, type FaultSettings, type FaultStats } from './faults';
import { outageSwitch } from './outage';
import type { CharityReferralState } from '../src/adapters/charity/charity-client';

/**
 * The charity's advocacy referral API (charity-api.md) for the demo and end-to-end tests:
 * bearer auth, joi validation, idempotency by key, status progression, fault injection, and
 * signed `referral.status_changed` webhooks to the bridge ("Webhook to the bridge"): one event
 * per status change after creation (each `advance()` step and a successful cancel; creation
 * itself has none, the bridge learns RECEIVED from the 201), delivered asynchronously in the
 * background, retried, and optionally lost, duplicated or reordered.
 * For reconciliation tests it can also go down and come back (`goDown`/`comeBack`), lose a
 * referral (`forget`) and move one straight to a status (`setStatus`).
 * In memory; nothing is ever logged (personal data included).
 */
export interface CharityWebhookTarget {
  /** The bridge's `POST /v1/webhooks/charity`. */
  url: string;
  /** Shared secret for `X-Charity-Signature`. */
  secret: string;
}

export interface CharitySimulatorOptions {
  port?: number;
  apiKey?: string;
  /** Move every open referral one step this often (unref'd timer). */
  advanceEveryMs?: number;
  /** Where to send webhooks and the secret to sign them with; can also be set later with setWebhook(). */
  webhook?: CharityWebhookTarget;
  faults?: {
    /**
     * This fraction of requests fails before the simulator looks at them (nothing is created).
     * Without `kinds` (the original behaviour) only POSTs fail, alternately 503 and 429 with
     * Retry-After; with `kinds` any API request may fail with one of them (see ./faults.ts),
     * 'lost-answer' included: the request is handled and the answer is then cut off.
     * Drawn from `random`.
     */
    errorRate?: number;
    kinds?: FaultKind[];
    /** How long a 'timeout' fault holds a request before answering 504 (default 5000 ms). */
    holdMs?: number;
    latencyMs?: number;
    /** This fraction of events is never delivered (a lost webhook). Drawn from `random`. */
    dropWebhookRate?: number;
    /** This fraction of events is delivered twice (same eventId, same body). Drawn from `random`. */
    duplicateWebhookRate?: number;
    /**
     * Deliver each batch in reverse order. A batch is everything waiting when a delivery run
     * starts: e.g. the events of `advance(); advance();` called without awaiting in between, or
     * the backlog when `setWebhook()` is called.
     */
    reorderWebhooks?: boolean;
    /**
     * This fraction of new referrals moves on a step (RECEIVED to ALLOCATED) and has that
     * webhook delivered before the create is answered (at most WEBHOOK_BEFORE_ANSWER_MAX_MS):
     * the bridge hears of the case before it knows the case's id. Drawn from `random`.
     */
    webhookBeforeAnswerRate?: number;
    /**
     * How many creates of a referral (by `externalReference`) to refuse 422, as a caseworker's
     * validation would (`client.safeContact`); the next create of it is taken.
     */
    refuseCreates?: (externalReference: string) => number;
  };
  random?: () => number;
  /**
   * Clock in epoch milliseconds (default Date.now): `updatedAt`, `occurredAt` and the
   * signature's `t`. For tests that need a fresh `t` on a retry within the same second.
   */
  now?: () => number;
}

export interface CharitySimulatorStats {
  created: number;
  replays: number;
  conflicts: number;
  distinctKeys: number;
  cancels: number;
  /** Deliveries the receiver answered 2xx (a duplicate delivery counts again). */
  webhooksSent: number;
  /** Delivery attempts answered non-2xx or failing on the network. */
  webhooksFailed: number;
  /** Events deliberately never sent (dropWebhookRate). */
  webhooksDropped: number;
  /** Deliveries abandoned after their last failed attempt (5 attempts, or 3 answered 404). */
  webhooksGivenUp: number;
  /** Creates whose first status change was sent as a webhook before the create was answered. */
  webhooksBeforeAnswer: number;
}

export interface CharityWebhookEvent {
  /** Unique per simulator: evt_000001, evt_000002, … */
  eventId: string;
  type: 'referral.status_changed';
  /** When the status changed: the referral's `updatedAt` after that change. */
  occurredAt: string;
  referral: { id: string; externalReference: string; status: string; statusReason: string | null };
}

export interface CharitySimulator {
  /** Base URL without `/v1` (what CHARITY_API_URL holds). */
  url: string;
  stop(): Promise<void>;
  /** Moves every open referral one step; returns how many moved. */
  advance(): number;
  stats(): CharitySimulatorStats;
  referrals(): CharityReferralState[];
  /** Sets (or with undefined, clears) the webhook target; events waiting so far are then delivered. */
  setWebhook(webhook: CharityWebhookTarget | undefined): void;
  /**
   * Resolves when every event generated so far is settled: delivered (2xx), dropped, given up,
   * or waiting because no webhook is set. Retries that are due are made at once, not after the
   * retry timer, so a test never has to sleep.
   */
  flushWebhooks(): Promise<void>;
  /** Every event the simulator generated, in order (whether delivered, dropped or pending). */
  events(): CharityWebhookEvent[];
  /** Change the HTTP faults and the webhook loss rate while running (e.g. end a chaos phase with errorRate 0). */
  setFaults(faults: FaultSettings & { dropWebhookRate?: number; webhookBeforeAnswerRate?: number }): void;
  /** Requests that could have failed and the faults injected, by kind. */
  faultStats(): FaultStats;
  /**
   * Duplicates made measurable: creates (201s) against distinct Idempotency-Keys, and the
   * distinct externalReferences (the bridge's referral ids) among the referrals held.
   * A clean run has creates === distinctKeys === distinctExternalReferences === referrals held.
   */
  idempotency(): { creates: number; distinctKeys: number; referrals: number; distinctExternalReferences: number };
  /**
   * Stop listening (new connections are refused: ECONNREFUSED) but keep every referral in memory.
   * Open connections, keep-alive ones included, are destroyed (a request in flight is cut off).
   * Webhooks (the charity's outbound side), advance() and the timers carry on. No-op when down.
   */
  goDown(): Promise<void>;
  /** Listen again on the same port, same state. No-op when up; rejects after stop(). */
  comeBack(): Promise<void>;
  /**
   * Lose a referral as if it had never been created: GET /v1/referrals/{id} → 404, it leaves the
   * list, and its Idempotency-Key is forgotten, so a resend creates it again (under a new id).
   * Events already generated for it stay in events() and deliveries already queued still go out.
   * Returns false if unknown.
   */
  forget(charityId: string): boolean;
  /**
   * Move one referral straight to a status (for tests that need a partner ahead of the bridge);
   * updates updatedAt and emits the webhook event as a normal step would. statusReason defaults
   * to null. Throws if the referral is unknown.
   */
  setStatus(charityId: string, status: string, statusReason?: string | null): void;
}

/** The exact `X-Charity-Signature` header the charity sends: `t={unixSeconds},v1={hex HMAC-SHA256(secret, "{t}.{rawBody}")}`. */
export function signCharityWebhook(secret: string, rawBody: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${rawBody}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export const DEFAULT_SIMULATOR_API_KEY = 'charity-sim-key';
const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 200;
const WEBHOOK_MAX_ATTEMPTS = 5;
/** A receiver that does not know the referral is asked at most this many times. */
const WEBHOOK_MAX_NOT_FOUND = 3;
const WEBHOOK_TIMEOUT_MS = 5000;
/** First retry delay; doubles with each attempt (250, 500, 1000, 2000 ms). */
const WEBHOOK_RETRY_BASE_MS = 250;
/** How long a create waits for its early webhook (webhookBeforeAnswerRate) before it is answered anyway. */
const WEBHOOK_BEFORE_ANSWER_MAX_MS = 1000;

interface StoredReferral extends CharityReferralState {
  seq: number;
}

/** One delivery of one event (a duplicated event has two). */
interface PendingDelivery {
  body: string;
  attempts: number;
  notFound: number;
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
  const latencyMs = opts.faults?.latencyMs ?? 0;
  let dropWebhookRate = opts.faults?.dropWebhookRate ?? 0;
  let webhookBeforeAnswerRate = opts.faults?.webhookBeforeAnswerRate ?? 0;
  // Without kinds the original faults: POSTs only, alternately 503 and 429.
  let explicitKinds = opts.faults?.kinds !== undefined;
  const duplicateWebhookRate = opts.faults?.duplicateWebhookRate ?? 0;
  const reorderWebhooks = opts.faults?.reorderWebhooks ?? false;
  const now = opts.now ?? Date.now;
  const isoNow = (): string => new Date(now()).toISOString();

  const byId = new Map<string, StoredReferral>();
  const byKey = new Map<string, IdempotencyEntry>();
  const refusals = new Map<string, number>();
  const counters = { created: 0, replays: 0, conflicts: 0, cancels: 0 };
  // Never reused, so a referral created again after forget() gets a new id.
  let lastSeq = 0;
  const webhookCounters = { webhooksSent: 0, webhooksFailed: 0, webhooksDropped: 0, webhooksGivenUp: 0, webhooksBeforeAnswer: 0 };
  let faultCount = 0;

  // Webhooks: every generated event, the deliveries waiting (new or to retry), and one promise
  // chain of delivery runs so that deliveries are sequential and flushWebhooks() can await them.
  let webhook = opts.webhook;
  const generated: CharityWebhookEvent[] = [];
  let outbox: PendingDelivery[] = [];
  let deliveries: Promise<void> = Promise.resolve();
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stopping = new AbortController();

  /** Records one event per changed referral (one batch) and queues its deliveries. */
  const emit = (changed: StoredReferral[]): void => {
    for (const r of changed) {
      const event: CharityWebhookEvent = {
        eventId: `evt_${String(generated.length + 1).padStart(6, '0')}`,
        type: 'referral.status_changed',
        occurredAt: r.updatedAt,
        referral: { id: r.id, externalReference: r.externalReference, status: r.status, statusReason: r.statusReason },
      };
      generated.push(event);
      if (dropWebhookRate > 0 && random() < dropWebhookRate) {
        webhookCounters.webhooksDropped += 1;
        continue;
      }
      const body = JSON.stringify(event);
      outbox.push({ body, attempts: 0, notFound: 0 });
      if (duplicateWebhookRate > 0 && random() < duplicateWebhookRate) outbox.push({ body, attempts: 0, notFound: 0 });
    }
  };

  /** One attempt; a failure that may be retried goes back to the outbox. */
  const attempt = async (d: PendingDelivery, target: CharityWebhookTarget): Promise<void> => {
    const t = Math.floor(now() / 1000);
    let status: number | undefined;
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Charity-Signature': signCharityWebhook(target.secret, d.body, t) },
        body: d.body,
        signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
      });
      status = res.status;
      await res.arrayBuffer(); // drain, so the connection is reusable
    } catch {
      /* network error, timeout or stop(): status stays undefined unless the receiver answered */
    }
    if (stopped && status === undefined) return; // cut off by stop(): not the receiver's failure
    d.attempts += 1;
    if (status !== undefined && status >= 200 && status < 300) {
      webhookCounters.webhooksSent += 1;
      return;
    }
    webhookCounters.webhooksFailed += 1;
    if (status === 404) d.notFound += 1;
    if (d.attempts >= WEBHOOK_MAX_ATTEMPTS || d.notFound >= WEBHOOK_MAX_NOT_FOUND) {
      webhookCounters.webhooksGivenUp += 1;
      return;
    }
    outbox.push(d);
  };

  /** Delivers everything waiting, one at a time (reversed with reorderWebhooks). */
  const runDeliveries = async (): Promise<void> => {
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = undefined;
    if (stopped || !webhook || outbox.length === 0) return;
    const batch = outbox;
    outbox = [];
    if (reorderWebhooks) batch.reverse();
    for (let i = 0; i < batch.length; i++) {
      const target = webhook;
      if (stopped || !target) {
        // Cleared (or stopped) mid-run: the rest wait, in generation order, ahead of anything newer.
        const rest = batch.slice(i);
        outbox = [...(reorderWebhooks ? rest.reverse() : rest), ...outbox];
        return;
      }
      await attempt(batch[i]!, target);
    }
    if (outbox.length > 0 && webhook && !stopped) {
      const fewest = Math.min(...outbox.map((d) => d.attempts));
      retryTimer = setTimeout(pump, WEBHOOK_RETRY_BASE_MS * 2 ** Math.max(0, fewest - 1));
      retryTimer.unref();
    }
  };

  const pump = (): void => {
    if (stopped) return;
    deliveries = deliveries.then(runDeliveries);
  };

  const server = Hapi.server({ port: opts.port ?? 0, host: '127.0.0.1', routes: { timeout: { server: false } } });
  const faults = faultInjector(server, {
    settings: {
      errorRate: opts.faults?.errorRate ?? 0,
      ...(opts.faults?.kinds ? { kinds: opts.faults.kinds } : {}),
      ...(opts.faults?.holdMs ? { holdMs: opts.faults.holdMs } : {}),
    },
    defaultKinds: ['503', '429'],
    random,
    errorResponse: (h, status) =>
      h
        .response({ error: { 500: 'internal_error', 503: 'service_unavailable', 429: 'rate_limited', 504: 'gateway_timeout' }[status] })
        .code(status),
  });

  server.ext('onRequest', async (request, h) => {
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    const given = Buffer.from(String(request.headers.authorization ?? ''));
    if (given.length !== expectedAuth.length || !timingSafeEqual(given, expectedAuth)) {
      return h.response({ error: 'unauthorized' }).code(401).takeover();
    }
    // Faults hit before anything else happens (so nothing is created), except 'lost-answer'.
    let kind: FaultKind | undefined;
    if (explicitKinds) {
      kind = faults.draw();
    } else if (request.method === 'post') {
      faults.countEligible();
      const errorRate = faults.settings().errorRate;
      if (errorRate > 0 && random() < errorRate) {
        faultCount += 1;
        kind = faultCount % 2 === 1 ? '503' : '429';
      }
    }
    return (await faults.strike(request, h, kind)) ?? h.continue;
  });

  server.route({
    method: 'POST',
    path: '/v1/referrals',
    // The raw bytes: "same body" means the same bytes the first time, as the bridge promises.
    options: { payload: { parse: false, output: 'data', maxBytes: 256 * 1024 } },
    handler: async (request, h) => {
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
      const reference = (parsed as { externalReference: string }).externalReference;
      const refused = refusals.get(reference) ?? 0;
      if (refused < (opts.faults?.refuseCreates?.(reference) ?? 0)) {
        refusals.set(reference, refused + 1);
        return h
          .response({ errors: [{ path: 'client.safeContact', message: 'must say how the caseworker can contact the client safely' }] })
          .code(422);
      }

      const seq = ++lastSeq;
      const id = `CH-${String(seq).padStart(6, '0')}`;
      const referral: StoredReferral = {
        seq,
        id,
        externalReference: (parsed as { externalReference: string }).externalReference,
        status: 'RECEIVED',
        statusReason: null,
        updatedAt: isoNow(),
      };
      byId.set(id, referral);
      const response = { id, status: 'RECEIVED' };
      byKey.set(key, { bodyHash, response });
      counters.created += 1;
      if (webhookBeforeAnswerRate > 0 && random() < webhookBeforeAnswerRate) {
        webhookCounters.webhooksBeforeAnswer += 1;
        const next = nextStatus(referral)!;
        referral.status = next.status;
        referral.statusReason = next.statusReason;
        referral.updatedAt = isoNow();
        emit([referral]);
        pump();
        await Promise.race([deliveries, new Promise((resolve) => setTimeout(resolve, WEBHOOK_BEFORE_ANSWER_MAX_MS).unref())]);
      }
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
      referral.updatedAt = isoNow();
      counters.cancels += 1;
      emit([referral]);
      pump();
      return publicState(referral);
    },
  });

  const outage = outageSwitch(server, 'charity simulator');

  await server.start();

  const advance = (): number => {
    const at = isoNow();
    const changed: StoredReferral[] = [];
    for (const referral of byId.values()) {
      const next = nextStatus(referral);
      if (!next) continue;
      referral.status = next.status;
      referral.statusReason = next.statusReason;
      referral.updatedAt = at;
      changed.push(referral);
    }
    emit(changed);
    pump(); // also retries deliveries that failed earlier
    return changed.length;
  };

  const flushWebhooks = async (): Promise<void> => {
    for (;;) {
      const current = deliveries;
      await current;
      if (deliveries !== current) continue; // more runs were queued meanwhile
      if (stopped || !webhook || outbox.length === 0) return;
      pump(); // retries due now; every run spends an attempt, so this ends
    }
  };

  const timer = opts.advanceEveryMs ? setInterval(advance, opts.advanceEveryMs) : undefined;
  timer?.unref();

  const forget = (charityId: string): boolean => {
    if (!byId.delete(charityId)) return false;
    for (const [key, entry] of byKey) if (entry.response.id === charityId) byKey.delete(key);
    return true;
  };

  const setStatus = (charityId: string, status: string, statusReason: string | null = null): void => {
    const referral = byId.get(charityId);
    if (!referral) throw new Error(`charity simulator has no referral ${charityId}`);
    referral.status = status;
    referral.statusReason = statusReason;
    referral.updatedAt = isoNow();
    emit([referral]);
    pump();
  };

  return {
    url: `http://127.0.0.1:${server.info.port}`,
    stop: () =>
      outage.stop(async () => {
        if (timer) clearInterval(timer);
        stopped = true;
        if (retryTimer) clearTimeout(retryTimer);
        stopping.abort();
        faults.releaseHolds();
        await deliveries;
        await server.stop({ timeout: 1000 });
      }),
    advance,
    stats: () => ({ ...counters, distinctKeys: byKey.size, ...webhookCounters }),
    referrals: () => [...byId.values()].sort((a, b) => a.seq - b.seq).map(publicState),
    setWebhook(target) {
      webhook = target ? { url: target.url, secret: target.secret } : undefined;
      pump();
    },
    flushWebhooks,
    events: () => generated.map((e) => ({ ...e, referral: { ...e.referral } })),
    setFaults(next) {
      if (next.kinds !== undefined) explicitKinds = true;
      if (next.dropWebhookRate !== undefined) dropWebhookRate = next.dropWebhookRate;
      if (next.webhookBeforeAnswerRate !== undefined) webhookBeforeAnswerRate = next.webhookBeforeAnswerRate;
      const { dropWebhookRate: _drop, webhookBeforeAnswerRate: _early, ...http } = next;
      faults.set(http);
    },
    faultStats: () => faults.stats(),
    idempotency: () => ({
      creates: counters.created,
      distinctKeys: byKey.size,
      referrals: byId.size,
      distinctExternalReferences: new Set([...byId.values()].map((r) => r.externalReference)).size,
    }),
    goDown: outage.goDown,
    comeBack: outage.comeBack,
    forget,
    setStatus,
  };
}

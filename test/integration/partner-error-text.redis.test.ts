import type { Server } from '@hapi/hapi';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import type { Job, Worker } from 'bullmq';
import IORedis from 'ioredis';
import nock from 'nock';
import { BARS_ERROR_CODE_SYSTEM } from '../../src/mappings/operation-outcome';
import { SCOPE } from '../../src/api/auth';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { Referral } from '../../src/domain/referral';
import { barsMessageId } from '../../src/mappings/referral-to-bars';
import { charityDelivery } from '../../src/pipeline/delivery/charity-delivery';
import { deadLetterTextAad } from '../../src/queues/dead-letter';
import { expireDeadLetterPersonalData } from '../../src/operations/dead-letter-admin';
import { startDeliveryWorker } from '../../src/pipeline/delivery/delivery';
import { enqueueDelivery } from '../../src/pipeline/delivery/delivery-jobs';
import { nhsDelivery } from '../../src/pipeline/delivery/nhs-delivery';
import type { DeadLetterJob } from '../../src/queues/topology';
import { barsIntegrityHeaders, MIRROR_INTEGRITY, trustResponse } from '../helpers/nhs';
import { advocacyReferral, clinicalReferral } from '../helpers/referrals';
import { capturedLogger, operatorHeader, REDIS_URL, stopBridge, testConfig, waitFor } from '../helpers/bridge';
import { restoreNockAfterAll } from '../helpers/nock';

restoreNockAfterAll();

/**
 * Partners echo the patient back in their error texts (a trust's 422 OperationOutcome, a BaRS
 * fatal-error, the charity's 422 messages), unquoted. Only the structured parts (status, codes,
 * expressions, field paths) may be kept in clear; the words are sealed and shown to an admin
 * asking for personal data, audited. Planted canaries are looked for in every Redis value under
 * the test prefix, every log line, every API answer and the dashboard.
 */
const TRUST = 'https://bars.trust.test';
const CHARITY = 'http://charity.test';
const INBOUND_TOKEN = 'trust-inbound-token';
const CORRELATION = 'c0ffee00-0000-4000-8000-000000000000';

const FORENAME = 'Qzcanaryforename';
const SURNAME = 'Qzcanarysurname';
const NHS = '9434765919';
const CANARIES = [FORENAME, SURNAME, NHS, '943 476 5919'];
/** What a partner writes about the patient: no quotes for a redaction to find. */
const ECHO = `Patient ${FORENAME} ${SURNAME} (NHS number ${NHS}, 943 476 5919) is not registered with this service`;

const withCanaries = (r: Referral, referralId: string, crimeReference: string): Referral => ({
  ...r,
  referralId,
  crimeReference,
  subject: { ...r.subject, forename: FORENAME, surname: SURNAME, nhsNumber: NHS },
});
const REFUSED = withCanaries(clinicalReferral(), '7d5c3c2e-0f7b-5a55-9a7e-0d6f5f1d2b31', 'CC-26-0007001');
const FATAL = withCanaries(clinicalReferral(), '7d5c3c2e-0f7b-5a55-9a7e-0d6f5f1d2b32', 'CC-26-0007002');
const INVALID = withCanaries(advocacyReferral(), '3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e33', 'CC-26-0007003');
const IDS = [REFUSED.referralId, FATAL.referralId, INVALID.referralId];

const outcome = (status: string, expression: string[]): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'error',
      code: 'invalid',
      diagnostics: ECHO,
      expression,
      details: { coding: [{ system: BARS_ERROR_CODE_SYSTEM, code: status }], text: `${SURNAME} ${NHS}` },
    },
  ],
});

function expectNoCanary(text: string, where: string): void {
  const lower = text.toLowerCase();
  for (const c of CANARIES)
    if (lower.includes(c.toLowerCase()))
      throw new Error(
        `${where} holds the planted "${c}": …${text.slice(Math.max(0, lower.indexOf(c.toLowerCase()) - 200), lower.indexOf(c.toLowerCase()) + 100)}…`,
      );
}

/** Every value of every key under the prefix, whatever its type. */
async function dumpRedis(prefix: string): Promise<string> {
  const redis = new IORedis(REDIS_URL);
  const out: string[] = [];
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === 'string'
            ? await redis.get(key)
            : type === 'hash'
              ? await redis.hgetall(key)
              : type === 'list'
                ? await redis.lrange(key, 0, -1)
                : type === 'set'
                  ? await redis.smembers(key)
                  : type === 'zset'
                    ? await redis.zrange(key, 0, -1, 'WITHSCORES')
                    : type === 'stream'
                      ? await redis.xrange(key, '-', '+')
                      : `(${type})`;
        out.push(`${key} ${JSON.stringify(value)}`);
      }
    }
  } finally {
    redis.disconnect();
  }
  return out.join('\n');
}

describe('a partner echoing the patient in its error text', () => {
  let ctx: BridgeContext;
  let server: Server;
  let workers: Worker[];
  let logs: () => string;

  beforeEach(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    const captured = capturedLogger();
    logs = captured.text;
    ctx = createContext(
      testConfig({
        NHS_MODE: 'bars',
        NHS_FHIR_BASE_URL: `${TRUST}/fhir`,
        NHS_BARS_TARGET_SERVICE_ID: 'svc-42',
        NHS_INBOUND_TOKEN: INBOUND_TOKEN,
        CHARITY_API_URL: CHARITY,
        CHARITY_API_KEY: 'k',
        DELIVERY_BACKOFF_MS: '20',
      }),
      captured.logger,
    );
    server = await createServer(ctx, { port: 0 });
    workers = [startDeliveryWorker(ctx, nhsDelivery(ctx)), startDeliveryWorker(ctx, charityDelivery(ctx))];
  });
  afterEach(async () => {
    await server.stop();
    await stopBridge(ctx, workers);
    nock.cleanAll();
    nock.enableNetConnect();
  });

  async function queue(referral: Referral): Promise<void> {
    await ctx.referrals.saveData(referral);
    const t = await ctx.referrals.transition(referral.referralId, {
      to: 'QUEUED',
      source: 'test',
      create: {
        referralId: referral.referralId,
        type: referral.type,
        crimeReference: referral.crimeReference,
        recordVersion: 3,
        correlationId: CORRELATION,
      },
    });
    if (!t.applied) throw new Error('setup failed');
    await enqueueDelivery(ctx, referral.referralId, CORRELATION, t.seq);
  }
  const statusOf = async (id: string) => (await ctx.referrals.get(id))?.status;
  const letters = async () => ((await ctx.queues.deadLetter.getJobs(['waiting'])) as Job<DeadLetterJob>[]).filter((j) => j.data);
  const get = async (url: string, scopes: string[]) => {
    const res = await server.inject({ url, headers: operatorHeader(ctx.config, scopes as never) });
    return { status: res.statusCode, payload: res.payload };
  };

  /** The three failures: a trust 503 then 422, a BaRS fatal-error, a charity 422; all echoing the patient. */
  async function failAll(): Promise<Job<DeadLetterJob>[]> {
    nock(TRUST).post('/fhir/$process-message').reply(503, outcome('REC_SERVICE_UNAVAILABLE', []));
    nock(TRUST)
      .post('/fhir/$process-message')
      .reply(422, outcome('REC_UNPROCESSABLE_ENTITY', [`Bundle.entry[2].resource.identifier.where(value='${NHS}')`, 'Patient.name']));
    await queue(REFUSED);
    await waitFor(async () => (await statusOf(REFUSED.referralId)) === 'FAILED', 'trust 422 FAILED');

    nock(TRUST)
      .post('/fhir/$process-message')
      .reply(
        200,
        (_uri, body) => ({
          resourceType: 'Bundle',
          id: 'ack-1',
          type: 'message',
          entry: [{ resource: { resourceType: 'MessageHeader', response: { identifier: (body as Bundle).id, code: 'ok' } } }],
        }),
        MIRROR_INTEGRITY,
      );
    await queue(FATAL);
    await waitFor(async () => (await statusOf(FATAL.referralId)) === 'SENT', 'BaRS SENT');
    const response = trustResponse({
      id: 'resp-fatal-1',
      respondsTo: barsMessageId(FATAL.referralId),
      referralId: FATAL.referralId,
      code: 'fatal-error',
    });
    response.entry!.push({ resource: outcome('REC_UNPROCESSABLE_ENTITY', ['ServiceRequest.subject']) });
    const answer = await server.inject({
      method: 'POST',
      url: '/fhir/$process-message',
      headers: { authorization: `Bearer ${INBOUND_TOKEN}`, 'content-type': 'application/fhir+json', ...barsIntegrityHeaders() },
      payload: JSON.stringify(response),
    });
    expect(answer.statusCode).toBe(200);
    expectNoCanary(answer.payload, 'the $process-message acknowledgement');

    nock(CHARITY)
      .post('/v1/referrals')
      .reply(422, {
        errors: [
          { path: 'client.name', message: ECHO },
          { path: ['client', 'nhsNumber'], message: `${NHS} does not belong to ${FORENAME} ${SURNAME}` },
        ],
      });
    await queue(INVALID);
    await waitFor(async () => (await statusOf(INVALID.referralId)) === 'FAILED', 'charity 422 FAILED');
    return waitFor(async () => {
      const all = await letters();
      return IDS.every((id) => all.some((j) => j.data.referralId === id)) && all;
    }, 'three dead letters');
  }

  test('is kept only sealed: not in Redis, the logs, any API answer or the dashboard; the structured parts stay in clear', async () => {
    const dead = await failAll();

    // The words were heard and sealed (else the rest proves nothing), bound to their entry.
    for (const job of dead) {
      expect(job.data.partnerText).toMatch(/^enc2\./);
      expect(ctx.cipher.decrypt(job.data.partnerText!, deadLetterTextAad(job.data))).toContain(SURNAME);
      expect(() => ctx.cipher.decrypt(job.data.partnerText!, 'elsewhere')).toThrow();
    }
    for (const id of IDS) expect(await ctx.referrals.loadPartnerText(id)).toContain(SURNAME);

    // Structured parts, in clear: status, BaRS and issue codes, expressions (literals removed), field paths.
    const byId = (id: string) => dead.find((j) => j.data.referralId === id)!.data;
    expect(byId(REFUSED.referralId).reason).toBe(
      "NHS FHIR server answered 422 (REC_UNPROCESSABLE_ENTITY): REC_UNPROCESSABLE_ENTITY (invalid) at Bundle.entry[2].resource.identifier.where(value='…'), Patient.name",
    );
    expect(byId(FATAL.referralId).reason).toBe(
      'NHS BaRS receiver answered fatal-error: REC_UNPROCESSABLE_ENTITY (invalid) at ServiceRequest.subject',
    );
    expect(byId(INVALID.referralId).reason).toBe('charity rejected the referral as invalid (422): client.name, client.nhsNumber');
    expect((await ctx.referrals.get(REFUSED.referralId))?.lastError).toBe(byId(REFUSED.referralId).reason);
    expect((await ctx.referrals.get(INVALID.referralId))?.lastError).toBe(byId(INVALID.referralId).reason);
    expect((await ctx.referrals.get(FATAL.referralId))?.lastError).toBe(
      'trust refused the message: REC_UNPROCESSABLE_ENTITY (invalid) at ServiceRequest.subject',
    );

    // Every API answer without personal data, for every caller short of admin + include=personal.
    const answers: string[] = [];
    const read = async (url: string, scopes: string[]) => {
      const res = await get(url, scopes);
      expect(res.status).toBe(200);
      expectNoCanary(res.payload, `GET ${url} as ${scopes.join(',')}`);
      answers.push(res.payload);
    };
    for (const id of IDS) {
      await read(`/v1/referrals/${id}`, [SCOPE.referralsRead]);
      await read(`/v1/referrals/${id}`, [SCOPE.admin]);
    }
    await read('/v1/dead-letters', [SCOPE.dlqRedrive]);
    await read('/v1/dead-letters', [SCOPE.admin]);
    for (const job of dead) {
      await read(`/v1/dead-letters/${encodeURIComponent(String(job.id))}`, [SCOPE.dlqRedrive]);
      await read(`/v1/dead-letters/${encodeURIComponent(String(job.id))}`, [SCOPE.admin]);
    }
    // The dashboard: its page, and every queue's jobs in every state as its API serves them.
    await read('/admin/queues', [SCOPE.admin]);
    for (const q of ctx.queues.all()) {
      for (const status of ['latest', 'waiting', 'active', 'completed', 'failed', 'delayed']) {
        await read(`/admin/queues/api/queues?activeQueue=${encodeURIComponent(q.name)}&status=${status}&page=1`, [SCOPE.admin]);
      }
      for (const job of await q.getJobs(['waiting', 'completed', 'failed', 'delayed'])) {
        if (job?.id) await read(`/admin/queues/api/queues/${encodeURIComponent(q.name)}/${encodeURIComponent(job.id)}`, [SCOPE.admin]);
      }
    }
    expect(answers.join('\n')).toContain('REC_UNPROCESSABLE_ENTITY');

    // Personal data only for admin asking for it; refused otherwise.
    expect((await get(`/v1/referrals/${REFUSED.referralId}?include=personal`, [SCOPE.referralsRead])).status).toBe(403);
    expect((await get(`/v1/dead-letters/${encodeURIComponent(String(dead[0]!.id))}?include=personal`, [SCOPE.dlqRedrive])).status).toBe(
      403,
    );
    for (const job of dead) {
      const shown = await get(`/v1/dead-letters/${encodeURIComponent(String(job.id))}?include=personal`, [SCOPE.admin]);
      expect(shown.status).toBe(200);
      expect(JSON.parse(shown.payload).partnerText).toContain(SURNAME);
    }
    for (const id of IDS) {
      const shown = await get(`/v1/referrals/${id}?include=personal`, [SCOPE.admin]);
      expect(shown.status).toBe(200);
      expect(JSON.parse(shown.payload).partnerText).toContain(SURNAME);
    }
    const reads = (await ctx.audit.query({})).filter((e) => e.action === 'admin.read' && e.actor === 'operator:tester');
    for (const job of dead)
      expect(reads).toContainEqual(expect.objectContaining({ target: String(job.id), referralId: job.data.referralId }));
    for (const id of IDS)
      expect(reads).toContainEqual(expect.objectContaining({ referralId: id, outcome: 'personal', target: '/v1/referrals/{id}' }));

    // After all that, still nowhere in clear: every key under the prefix, every log line.
    expectNoCanary(await dumpRedis(ctx.config.redis.prefix), 'Redis');
    expect(logs()).toContain(REFUSED.referralId);
    expectNoCanary(logs(), 'the logs');
  });

  test('the sealed words leave a dead letter after the retention period, as its sealed record does', async () => {
    const dead = await failAll();
    const reasons = new Map(dead.map((j) => [String(j.id), j.data.reason]));
    const later = new Date(Date.now() + (ctx.config.retention.days + 1) * 24 * 3600_000);
    expect(await expireDeadLetterPersonalData(ctx, later)).toBe(dead.length);
    for (const job of await letters()) {
      expect(job.data.partnerText).toBeUndefined();
      expect(job.data.partnerTextExpired).toBe(true);
      expect(job.data.reason).toBe(reasons.get(String(job.id)));
    }
    const shown = await get(`/v1/dead-letters/${encodeURIComponent(String(dead[0]!.id))}?include=personal`, [SCOPE.admin]);
    expect(JSON.parse(shown.payload).partnerText).toMatch(/expired/);
    // The referral's copy expires with its details.
    const [textTtl, dataTtl] = await Promise.all([
      ctx.redis.ttl(ctx.keys.partnerText(REFUSED.referralId)),
      ctx.redis.ttl(ctx.keys.data(REFUSED.referralId)),
    ]);
    expect(textTtl).toBeGreaterThan(0);
    expect(textTtl).toBeLessThanOrEqual(ctx.config.retention.days * 24 * 3600);
    expect(Math.abs(textTtl - dataTtl)).toBeLessThan(60);
  });
});

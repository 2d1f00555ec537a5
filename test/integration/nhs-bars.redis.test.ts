import type { Server } from '@hapi/hapi';
import type { Bundle, MessageHeader, OperationOutcome, ServiceRequest } from '@medplum/fhirtypes';
import type { Worker } from 'bullmq';
import nock from 'nock';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { barsMessageId } from '../../src/mappings/referral-to-bars';
import { startDeliveryWorker } from '../../src/pipeline/delivery/delivery';
import { enqueueCancel, enqueueDelivery } from '../../src/pipeline/delivery/delivery-jobs';
import { nhsDelivery } from '../../src/pipeline/delivery/nhs-delivery';
import type { DeadLetterJob } from '../../src/queues/topology';
import { barsIntegrityHeaders, MIRROR_INTEGRITY, trustResponse } from '../helpers/nhs';
import { clinicalReferral } from '../helpers/referrals';
import { capturedLogger, dropKeys, testConfig, waitFor } from '../helpers/bridge';
import { restoreNockAfterAll } from '../helpers/nock';

restoreNockAfterAll();

/**
 * nhs-fhir.md Mode B through real BullMQ queues on real Redis: delivery to a BaRS receiver
 * (nock), the trust's asynchronous responses on POST /fhir/$process-message, and cancellation.
 */
const TRUST = 'https://bars.trust.test';
const INBOUND_TOKEN = 'trust-inbound-token';
const CORRELATION = 'c0ffee00-0000-4000-8000-000000000000';
const referral = clinicalReferral();
const ID = referral.referralId;
const SENT_ID = barsMessageId(ID);

describe('BaRS mode', () => {
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
        DELIVERY_BACKOFF_MS: '20',
      }),
      captured.logger,
    );
    server = await createServer(ctx, { port: 0 });
    workers = [startDeliveryWorker(ctx, nhsDelivery(ctx))];
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  async function queueReferral(): Promise<void> {
    await ctx.referrals.saveData(referral);
    const t = await ctx.referrals.transition(ID, {
      to: 'QUEUED',
      source: 'test',
      create: { referralId: ID, type: 'CLINICAL', crimeReference: referral.crimeReference, recordVersion: 3, correlationId: CORRELATION },
    });
    if (!t.applied) throw new Error('setup failed');
    await enqueueDelivery(ctx, ID, CORRELATION, t.seq);
  }

  /** The trust's BaRS receiver: records every message it is sent. */
  function receiver(status = 200, times = 1): Bundle[] {
    const received: Bundle[] = [];
    nock(TRUST)
      .post('/fhir/$process-message', (body: Bundle) => received.push(body) > 0)
      .times(times)
      .reply(status, (_uri, body) => ack((body as Bundle).id!), MIRROR_INTEGRITY);
    return received;
  }

  async function delivered(): Promise<Bundle[]> {
    const received = receiver();
    await queueReferral();
    await waitFor(async () => (await ctx.referrals.get(ID))?.status === 'SENT', 'referral SENT');
    return received;
  }

  function respond(body: unknown, token = INBOUND_TOKEN, integrity: Record<string, string> = barsIntegrityHeaders()) {
    return server.inject({
      method: 'POST',
      url: '/fhir/$process-message',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', ...integrity },
      payload: JSON.stringify(body),
    });
  }

  test('delivers the message Bundle, marks the referral SENT and indexes the message id', async () => {
    const received = await delivered();
    expect(received).toHaveLength(1);
    expect(received[0]!.id).toBe(SENT_ID);
    expect(received[0]!.type).toBe('message');
    const meta = await ctx.referrals.get(ID);
    expect(meta).toMatchObject({ status: 'SENT', partnerRef: `Bundle/${SENT_ID}`, partnerStatus: 'active' });
    expect(await ctx.messages.lookup(SENT_ID)).toEqual({ referralId: ID, kind: 'new' });
  });

  test('NHSD-Requesting-Software names the product, its version and this instance (Core 1.2.2 Security and Authorisation)', async () => {
    let header: string | undefined;
    nock(TRUST)
      .post('/fhir/$process-message')
      .reply(function (_uri, body) {
        header = this.req.headers['nhsd-requesting-software'] as string;
        return [
          200,
          ack((body as Bundle).id!),
          {
            'X-Request-Id': this.req.headers['x-request-id'] as string,
            'X-Correlation-Id': this.req.headers['x-correlation-id'] as string,
          },
        ];
      });
    await queueReferral();
    await waitFor(async () => (await ctx.referrals.get(ID))?.status === 'SENT', 'referral SENT');
    expect(JSON.parse(Buffer.from(header!, 'base64').toString('utf8'))).toEqual({
      resourceType: 'Device',
      identifier: [{ system: 'https://iasu.example/Id/bridge-instance', value: ctx.config.force.orgCode }],
      deviceName: [{ name: 'iasu-bridge', type: 'manufacturer-name' }],
      version: [{ value: expect.stringMatching(/^\d+\.\d+\.\d+/) }],
    });
  });

  test('trust responses move the status forward only, each acknowledged, each written back', async () => {
    await delivered();
    const accepted = await respond(response({ encounter: 'planned' }));
    expect(accepted.statusCode).toBe(200);
    const ackHeader = (accepted.result as Bundle).entry![0]!.resource as MessageHeader;
    expect(ackHeader.response).toEqual({ identifier: 'resp-planned', code: 'ok' });
    expect((await ctx.referrals.get(ID))?.status).toBe('ACCEPTED');

    expect((await respond(response({ encounter: 'in-progress' }))).statusCode).toBe(200);
    expect((await ctx.referrals.get(ID))?.status).toBe('IN_PROGRESS');

    // Later messages out of order or repeating a status: acknowledged, never applied backwards.
    expect((await respond(response({ id: 'resp-planned-again', encounter: 'planned' }))).statusCode).toBe(200);
    expect((await respond(response({ id: 'resp-in-progress-again', encounter: 'in-progress' }))).statusCode).toBe(200);
    expect((await ctx.referrals.get(ID))?.status).toBe('IN_PROGRESS');

    expect((await respond(response({ sr: 'completed', encounter: 'finished' }))).statusCode).toBe(200);
    const timeline = await ctx.referrals.timeline(ID);
    expect(timeline.map((e) => e.status)).toEqual(['QUEUED', 'SENT', 'ACCEPTED', 'IN_PROGRESS', 'COMPLETED']);
    expect(timeline.slice(2).every((e) => e.source === 'nhs-bars')).toBe(true);
    // Every change the bridge made is written back to the police (QUEUED, seq 1, was the test's own
    // set-up). No RMS answers here, so each first attempt fails and is queued for retry.
    await ctx.writeBacks.idle();
    const outcomes = await ctx.queues.policeWriteBacks.getJobs(['waiting', 'delayed']);
    expect(outcomes.map((j) => j.id).sort()).toEqual([2, 3, 4, 5].map((s) => `${ID}-s${s}`).sort());
  });

  test('a message replayed (same Bundle id) is 409 REC_CONFLICT / duplicate and changes nothing', async () => {
    await delivered();
    expect((await respond(response({ encounter: 'planned' }))).statusCode).toBe(200);
    const before = { meta: await ctx.referrals.get(ID), timeline: await ctx.referrals.timeline(ID) };
    // The same message again, and again with other content under the same id.
    for (const replay of [response({ encounter: 'planned' }), response({ id: 'resp-planned', sr: 'completed', encounter: 'finished' })]) {
      const res = await respond(replay);
      expect(res.statusCode).toBe(409);
      expect(res.result).toMatchObject({
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'duplicate',
            details: { coding: [{ system: 'https://fhir.nhs.uk/Codesystem/http-error-codes', code: 'REC_CONFLICT' }] },
          },
        ],
      });
    }
    expect({ meta: await ctx.referrals.get(ID), timeline: await ctx.referrals.timeline(ID) }).toEqual(before);
  });

  test("a message answering the trust's own earlier message finds the referral; a trust message id never re-points another", async () => {
    await delivered();
    expect((await respond(response({ id: 'resp-interim', encounter: 'in-progress' }))).statusCode).toBe(200);
    expect((await respond(response({ id: 'resp-final', encounter: 'finished', respondsTo: 'resp-interim' }))).statusCode).toBe(200);
    expect((await ctx.referrals.get(ID))?.status).toBe('COMPLETED');

    const other = { referralId: '0e0e0e0e-0000-5000-8000-000000000002', kind: 'new' } as const;
    await ctx.messages.remember('held-elsewhere', other);
    expect((await respond(response({ id: 'held-elsewhere', encounter: 'finished' }))).statusCode).toBe(200);
    expect(await ctx.messages.lookup('held-elsewhere')).toEqual(other);
  });

  test("a message whose apply fails is not remembered: the trust's retry is applied", async () => {
    await delivered();
    const patch = jest.spyOn(ctx.referrals, 'transition').mockRejectedValueOnce(new Error('redis went away'));
    const failed = await respond(response({ encounter: 'planned' }));
    expect([failed.statusCode, (failed.result as OperationOutcome).issue[0]]).toEqual([
      500,
      expect.objectContaining({
        code: 'exception',
        details: expect.objectContaining({ coding: [expect.objectContaining({ code: 'REC_SERVER_ERROR' })] }),
      }),
    ]);
    expect(failed.payload).not.toContain('redis went away');
    patch.mockRestore();
    expect((await respond(response({ encounter: 'planned' }))).statusCode).toBe(200);
    expect((await ctx.referrals.get(ID))?.status).toBe('ACCEPTED');
  });

  test('X-Request-Id and X-Correlation-Id: required (400 REC_BAD_REQUEST, before the body is read), mirrored on every answer', async () => {
    await delivered();
    const ids = barsIntegrityHeaders();
    for (const [headers, issue] of [
      [{}, 'required'],
      [{ 'x-request-id': ids['x-request-id'] }, 'required'],
      [{ 'x-correlation-id': ids['x-correlation-id'] }, 'required'],
      [{ ...ids, 'x-request-id': 'not-a-uuid' }, 'value'],
    ] as const) {
      const res = await respond(response({ encounter: 'planned' }), INBOUND_TOKEN, headers);
      expect([res.statusCode, (res.result as OperationOutcome).issue[0]]).toEqual([
        400,
        expect.objectContaining({
          code: issue,
          details: expect.objectContaining({ coding: [expect.objectContaining({ code: 'REC_BAD_REQUEST' })] }),
        }),
      ]);
    }
    expect((await ctx.referrals.get(ID))?.status).toBe('SENT');
    const mirrored = (res: { headers: Record<string, unknown> }) => [res.headers['x-request-id'], res.headers['x-correlation-id']];
    // Refused for its credential, unknown, accepted, replayed: each answer mirrors both ids.
    for (const [body, token, status] of [
      [response({ encounter: 'planned' }), 'wrong-token', 401],
      [response({ encounter: 'planned', respondsTo: 'f0000000-0000-4000-8000-000000000000' }), INBOUND_TOKEN, 404],
      [response({ encounter: 'planned' }), INBOUND_TOKEN, 200],
      [response({ encounter: 'planned' }), INBOUND_TOKEN, 409],
    ] as const) {
      const sent = barsIntegrityHeaders();
      const res = await respond(body, token, sent);
      expect([res.statusCode, ...mirrored(res)]).toEqual([status, sent['x-request-id'], sent['x-correlation-id']]);
    }
    // A malformed id is refused and not mirrored.
    const res = await respond(response({ encounter: 'planned' }), INBOUND_TOKEN, { ...ids, 'x-request-id': 'evil\u0007' });
    expect([res.statusCode, ...mirrored(res)]).toEqual([400, undefined, ids['x-correlation-id']]);
  });

  test("hapi's own refusals on the route (too large, wrong media type) are OperationOutcomes with REC_ codes, ids mirrored", async () => {
    const ids = barsIntegrityHeaders();
    const base = { authorization: `Bearer ${INBOUND_TOKEN}`, ...ids };
    const tooLarge = await server.inject({
      method: 'POST',
      url: '/fhir/$process-message',
      headers: { ...base, 'content-type': 'application/fhir+json' },
      payload: 'x'.repeat(1024 * 1024 + 1),
    });
    const wrongType = await server.inject({
      method: 'POST',
      url: '/fhir/$process-message',
      headers: { ...base, 'content-type': 'text/plain' },
      payload: '{}',
    });
    for (const [res, status, issue] of [
      [tooLarge, 413, 'too-costly'],
      [wrongType, 415, 'not-supported'],
    ] as const) {
      expect([res.statusCode, res.headers['content-type'], res.headers['x-request-id'], res.headers['x-correlation-id']]).toEqual([
        status,
        expect.stringMatching(/^application\/fhir\+json/),
        ids['x-request-id'],
        ids['x-correlation-id'],
      ]);
      expect(JSON.parse(res.payload)).toMatchObject({
        resourceType: 'OperationOutcome',
        issue: [{ code: issue, details: { coding: [{ code: 'REC_BAD_REQUEST' }] }, diagnostics: expect.any(String) }],
      });
    }
  });

  test('the trust declining (ServiceRequest revoked, unprompted) is REJECTED', async () => {
    await delivered();
    expect((await respond(response({ sr: 'revoked' }))).statusCode).toBe(200);
    expect((await ctx.referrals.get(ID))?.status).toBe('REJECTED');
  });

  test('an unknown message id is a 404 OperationOutcome', async () => {
    const res = await respond(response({ encounter: 'planned', respondsTo: 'f0000000-0000-4000-8000-000000000000' }));
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/application\/fhir\+json/);
    const outcome = res.result as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]!.details!.coding![0]!.code).toBe('REC_NOT_FOUND');
  });

  test('a response whose ServiceRequest names another referral is refused (422)', async () => {
    await delivered();
    const res = await respond(response({ encounter: 'planned', referralId: '11111111-1111-5111-8111-111111111111' }));
    expect(res.statusCode).toBe(422);
    expect((await ctx.referrals.get(ID))?.status).toBe('SENT');
  });

  test('no or a wrong bearer token is a 401; a malformed message a 400, both OperationOutcomes', async () => {
    for (const token of ['', 'wrong-token-wrong-len', INBOUND_TOKEN.replace(/.$/, 'X')]) {
      const res = await respond(response({ encounter: 'planned' }), token);
      expect(res.statusCode).toBe(401);
      expect((res.result as OperationOutcome).issue[0]!.details!.coding![0]!.code).toBe('REC_UNAUTHORIZED');
    }
    const bad = await server.inject({
      method: 'POST',
      url: '/fhir/$process-message',
      headers: { authorization: `Bearer ${INBOUND_TOKEN}`, 'content-type': 'application/fhir+json', ...barsIntegrityHeaders() },
      payload: '{not json',
    });
    expect(bad.statusCode).toBe(400);
    const notMessage = await respond({ resourceType: 'Bundle', id: 'x', type: 'collection' });
    expect(notMessage.statusCode).toBe(400);
    expect((notMessage.result as OperationOutcome).issue[0]!.details!.text).toMatch(/type must be message/);
  });

  test('a fatal-error response fails the referral and dead-letters it, the trust’s text sealed', async () => {
    await delivered();
    expect((await respond(response({ code: 'fatal-error', outcome: 'Service does not accept this referral type' }))).statusCode).toBe(200);
    const meta = await ctx.referrals.get(ID);
    expect(meta?.status).toBe('FAILED');
    expect(meta?.lastError).toBe('trust refused the message: (invalid)');
    expect(await ctx.referrals.loadPartnerText(ID)).toBe('Service does not accept this referral type');
    const letters = (await ctx.queues.deadLetter.getJobs(['waiting'])).map((j) => j.data as DeadLetterJob);
    expect(letters).toEqual([
      expect.objectContaining({ referralId: ID, partner: 'NHS', errorKind: 'permanent', reason: expect.stringContaining('fatal-error') }),
    ]);
  });

  test('a 200 that does not mirror the integrity headers (an intermediary, not the trust) is not delivered: the same message is sent again', async () => {
    const bare: { body: Bundle; requestId: string }[] = [];
    nock(TRUST)
      .post('/fhir/$process-message')
      .reply(function (_uri, body) {
        const message = (typeof body === 'string' ? JSON.parse(body) : body) as Bundle;
        bare.push({ body: message, requestId: this.req.headers['x-request-id'] as string });
        return [200, ack(message.id!)];
      });
    const received = receiver();
    await queueReferral();
    await waitFor(async () => (await ctx.referrals.get(ID))?.status === 'SENT', 'referral SENT');
    expect(bare).toHaveLength(1);
    expect(received).toEqual([bare[0]!.body]);
    expect(bare[0]!.requestId).toBe(SENT_ID);
    expect((await ctx.referrals.timeline(ID)).map((e) => e.status)).toEqual(['QUEUED', 'SENT']);
  });

  test('a transient-error response resends the same message once', async () => {
    const first = await delivered();
    const again = receiver();
    expect((await respond(response({ code: 'transient-error' }))).statusCode).toBe(200);
    await waitFor(async () => again.length === 1, 'message resent');
    expect(again[0]).toEqual(first[0]);
    expect((await ctx.referrals.get(ID))?.status).toBe('SENT');
  });

  test('cancel sends the update message with the ServiceRequest revoked; the trust confirming it changes nothing', async () => {
    await delivered();
    const cancels = receiver();
    await ctx.referrals.transition(ID, { to: 'CANCELLED', source: 'test', detail: 'CONSENT_WITHDRAWN' });
    await enqueueCancel(ctx, ID, 'NHS', CORRELATION, 'CONSENT_WITHDRAWN');
    await waitFor(async () => cancels.length === 1, 'cancel message sent');
    const message = cancels[0]!;
    expect(message.id).toBe(barsMessageId(ID, 'cancel'));
    expect((message.entry![0]!.resource as MessageHeader).reason?.coding?.[0]?.code).toBe('update');
    const sr = message.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as ServiceRequest;
    expect(sr.status).toBe('revoked');
    expect(await ctx.messages.lookup(message.id!)).toEqual({ referralId: ID, kind: 'cancel' });

    expect((await respond(response({ sr: 'revoked', respondsTo: message.id! }))).statusCode).toBe(200);
    expect((await ctx.referrals.get(ID))?.status).toBe('CANCELLED');
  });

  test('a trust refusing the credentials is dead-lettered at once as an auth failure, with an alert', async () => {
    nock(TRUST)
      .post('/fhir/$process-message')
      .times(1)
      .reply(403, {
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'forbidden',
            details: { coding: [{ system: 'https://fhir.nhs.uk/Codesystem/http-error-codes', code: 'SEND_FORBIDDEN' }] },
          },
        ],
      });
    await queueReferral();
    await waitFor(async () => (await ctx.referrals.get(ID))?.status === 'FAILED', 'referral FAILED');
    const letters = (await ctx.queues.deadLetter.getJobs(['waiting'])).map((j) => j.data as DeadLetterJob);
    expect(letters).toEqual([expect.objectContaining({ referralId: ID, partner: 'NHS', errorKind: 'auth', attempts: 1 })]);
    const alert = logs()
      .split('\n')
      .find((l) => l.includes('"dead-lettered"'));
    expect(JSON.parse(alert!)).toMatchObject({ alert: true, kind: 'auth', referralId: ID });
  });

  test('no personal data reaches the logs', async () => {
    await delivered();
    await respond(response({ encounter: 'planned' }));
    await respond(response({ code: 'fatal-error', outcome: 'x' }));
    const text = logs();
    expect(text).toContain(ID);
    for (const planted of [
      referral.subject.surname!,
      referral.subject.nhsNumber!,
      referral.subject.dateOfBirth!,
      referral.subject.address!.postcode!,
    ]) {
      expect(text).not.toContain(planted);
    }
  });
});

function ack(id: string) {
  return {
    resourceType: 'Bundle',
    type: 'message',
    entry: [
      {
        resource: {
          resourceType: 'MessageHeader',
          eventCoding: { code: 'servicerequest-response' },
          source: { endpoint: TRUST },
          response: { identifier: id, code: 'ok' },
        },
      },
    ],
  };
}

/** The trust's response, named after what it says so a repeat has the same id. */
function response(opts: {
  id?: string;
  code?: string;
  sr?: string;
  encounter?: string;
  respondsTo?: string;
  referralId?: string;
  outcome?: string;
}): Bundle {
  const { sr, respondsTo, referralId, id: ownId, ...rest } = opts;
  const id = ownId ?? `resp-${opts.code && opts.code !== 'ok' ? opts.code : (opts.encounter ?? sr)}`;
  return trustResponse({
    id,
    respondsTo: respondsTo ?? SENT_ID,
    referralId: referralId ?? ID,
    ...(sr ? { serviceRequest: sr } : {}),
    ...rest,
  });
}

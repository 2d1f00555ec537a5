import type { Bundle } from '@medplum/fhirtypes';
import nock from 'nock';
import { BARS_ACCEPT, NhsBarsClient, type BarsParties } from '../../src/adapters/nhs/bars-client';
import { nhsView } from '../../src/mappings/allow-lists';
import { barsCancelMessage, referralToBarsMessage } from '../../src/mappings/referral-to-bars';
import { MIRROR_INTEGRITY, NHS_BARS_OPTIONS } from '../helpers/nhs';
import { clinicalReferral } from '../helpers/referrals';
import { FakeTokens, partnerFailure, socketError, useStrictNock } from '../helpers/nock';

/** nhs-fhir.md Mode B over HTTP: the BaRS headers, and one test per row of the "Errors" table. */
const ORIGIN = 'https://bars.nhs.test';
const BASE = `${ORIGIN}/fhir`;
const PATH = '/fhir/$process-message';
const parties: BarsParties = {
  target: { system: 'https://fhir.nhs.uk/Id/dos-service-id', value: 'svc-42' },
  endUserOrganisation: {
    resourceType: 'Organization',
    identifier: [{ system: 'https://iasu.example/Id/police-force', value: 'CHESHIRE' }],
    name: 'Cheshire Constabulary',
  },
  requestingSoftware: {
    resourceType: 'Device',
    deviceName: [{ name: 'iasu-bridge', type: 'manufacturer-name' }],
    version: [{ value: '0.1.0' }],
  },
};
const message = referralToBarsMessage(nhsView(clinicalReferral()), {
  ...NHS_BARS_OPTIONS,
  destinationEndpoint: `${BASE}/$process-message`,
});
const ctx = { correlationId: '0b6b0f4e-4f7c-4d0e-9a59-3f1c6c1d2e3f' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const decode = (v: string) => JSON.parse(Buffer.from(v, 'base64').toString('utf8')) as unknown;

let tokens: FakeTokens;

function client(timeoutMs = 2000): NhsBarsClient {
  return new NhsBarsClient({ baseUrl: BASE, timeoutMs, parties, auth: tokens });
}

function receiver(token = 'test-token', useContext = 'a4t3|referral|servicerequest-request|new') {
  return nock(ORIGIN, {
    reqheaders: {
      authorization: `Bearer ${token}`,
      'x-correlation-id': ctx.correlationId,
      'x-request-id': (v: string) => UUID.test(v),
      accept: BARS_ACCEPT,
      // Exact: BaRS's own Content-Type and Accept replace the client's defaults.
      'content-type': 'application/fhir+json',
      'use-context': useContext,
      'nhsd-target-identifier': (v: string) => JSON.stringify(decode(v)) === JSON.stringify(parties.target),
      'nhsd-end-user-organisation': (v: string) => (decode(v) as { resourceType?: string }).resourceType === 'Organization',
      'nhsd-requesting-software': (v: string) => (decode(v) as { resourceType?: string }).resourceType === 'Device',
    },
  });
}

function outcome(code: string, diagnostics: string) {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: 'invalid',
        details: { coding: [{ system: 'https://fhir.nhs.uk/Codesystem/http-error-codes', code }] },
        diagnostics,
      },
    ],
  };
}

function ack(code: 'ok' | 'fatal-error' | 'transient-error', text?: string): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'message',
    entry: [
      {
        resource: {
          resourceType: 'MessageHeader',
          eventCoding: { code: 'servicerequest-response' },
          source: { endpoint: BASE },
          response: { identifier: message.id!, code },
        },
      },
      ...(text
        ? [
            {
              resource: {
                resourceType: 'OperationOutcome' as const,
                issue: [{ severity: 'error' as const, code: 'invalid' as const, diagnostics: text }],
              },
            },
          ]
        : []),
    ],
  };
}

useStrictNock();
beforeEach(() => {
  tokens = new FakeTokens();
});

describe('NhsBarsClient.sendMessage', () => {
  it('POSTs the message Bundle to $process-message with every BaRS header', async () => {
    let body: unknown;
    receiver()
      .post(PATH, (b: unknown) => {
        body = b;
        return true;
      })
      .reply(200, ack('ok'), MIRROR_INTEGRITY);
    await expect(client().sendMessage(message, ctx)).resolves.toEqual({ outcome: 'accepted' });
    expect(body).toEqual(message);
  });

  it('the cancel message routes as an update in use-context', async () => {
    receiver('test-token', 'a4t3|referral|servicerequest-request|update').post(PATH).reply(200, ack('ok'), MIRROR_INTEGRITY);
    await expect(client().sendMessage(barsCancelMessage(message, '2026-11-23T10:00:00Z'), ctx)).resolves.toEqual({ outcome: 'accepted' });
  });

  it.each([400, 404, 422])('%i is permanent: the OperationOutcome codes in clear, its text apart', async (status) => {
    receiver().post(PATH).reply(status, outcome('REC_UNPROCESSABLE_ENTITY', 'Consent is missing'));
    const err = await partnerFailure(client().sendMessage(message, ctx));
    expect(err).toMatchObject({ partner: 'NHS', kind: 'permanent', status });
    expect(err.options.detail).toBe('REC_UNPROCESSABLE_ENTITY (invalid)');
    expect(err.partnerText).toBe('Consent is missing');
  });

  it.each([401, 403])('%i refreshes the token once, then dead-letters as an auth failure', async (status) => {
    receiver('test-token').post(PATH).reply(status, outcome('SEND_UNAUTHORIZED', 'expired'));
    receiver('test-token-2').post(PATH).reply(status, outcome('SEND_UNAUTHORIZED', 'expired'));
    const err = await partnerFailure(client().sendMessage(message, ctx));
    expect(err).toMatchObject({ kind: 'auth', status });
    expect(tokens.invalidated).toEqual(['test-token']);
  });

  it('a refused token that a refresh cures is delivered', async () => {
    receiver('test-token').post(PATH).reply(401, outcome('SEND_UNAUTHORIZED', 'expired'));
    receiver('test-token-2').post(PATH).reply(200, ack('ok'), MIRROR_INTEGRITY);
    await expect(client().sendMessage(message, ctx)).resolves.toEqual({ outcome: 'accepted' });
  });

  it('409 REC_CONFLICT: the trust already has the referral, so it counts as delivered', async () => {
    receiver().post(PATH).reply(409, outcome('REC_CONFLICT', 'duplicate referral'));
    await expect(client().sendMessage(message, ctx)).resolves.toEqual({ outcome: 'duplicate' });
  });

  it('429 is transient and honours Retry-After', async () => {
    receiver().post(PATH).reply(429, outcome('SEND_TOO_MANY_REQUESTS', 'slow down'), { 'Retry-After': '3' });
    expect(await partnerFailure(client().sendMessage(message, ctx))).toMatchObject({ kind: 'transient', status: 429, retryAfterMs: 3000 });
  });

  it.each([408, 500, 502, 503, 504])('%i is transient', async (status) => {
    receiver().post(PATH).reply(status, outcome('REC_SERVER_ERROR', 'down'));
    expect(await partnerFailure(client().sendMessage(message, ctx))).toMatchObject({ kind: 'transient', status });
  });

  it('a connection reset is transient', async () => {
    receiver().post(PATH).replyWithError(socketError('ECONNRESET', 'socket hang up'));
    expect(await partnerFailure(client().sendMessage(message, ctx))).toMatchObject({
      kind: 'transient',
      options: { detail: 'ECONNRESET' },
    });
  });

  it('a timeout is transient', async () => {
    receiver().post(PATH).delay(500).reply(200, ack('ok'), MIRROR_INTEGRITY);
    expect(await partnerFailure(client(50).sendMessage(message, ctx))).toMatchObject({ kind: 'transient', options: { detail: 'timeout' } });
  });

  it('a 200 response message saying fatal-error is permanent, with its OperationOutcome (text apart)', async () => {
    receiver().post(PATH).reply(200, ack('fatal-error', 'unknown service'), MIRROR_INTEGRITY);
    const err = await partnerFailure(client().sendMessage(message, ctx));
    expect(err).toMatchObject({ kind: 'permanent', options: { detail: '(invalid)' }, partnerText: 'unknown service' });
  });

  it.each([
    ['neither header', {}],
    ['only X-Request-Id', { 'X-Request-Id': MIRROR_INTEGRITY['X-Request-Id']! }],
    ['only X-Correlation-Id', { 'X-Correlation-Id': MIRROR_INTEGRITY['X-Correlation-Id']! }],
    [
      'another X-Request-Id',
      { 'X-Request-Id': '00000000-0000-4000-8000-000000000000', 'X-Correlation-Id': MIRROR_INTEGRITY['X-Correlation-Id']! },
    ],
  ])('a 200 mirroring %s is not delivered: transient, retried (Core 1.2.2 sender responsibilities)', async (_what, headers) => {
    receiver().post(PATH).reply(200, ack('ok'), headers);
    const err = await partnerFailure(client().sendMessage(message, ctx));
    expect(err).toMatchObject({
      partner: 'NHS',
      kind: 'transient',
      status: 200,
      options: { detail: expect.stringMatching(/^integrity headers not mirrored: /) },
    });
  });

  it('a retry is the same request: X-Request-Id is the message id on every attempt (Core 1.2.2 "Definition of a retry")', async () => {
    const seen: string[] = [];
    const record = function (this: { req: { headers: Record<string, string> } }) {
      seen.push(this.req.headers['x-request-id']!);
    };
    receiver()
      .post(PATH)
      .reply(function () {
        record.call(this);
        return [503, outcome('REC_SERVICE_UNAVAILABLE', 'busy')];
      });
    receiver()
      .post(PATH)
      .reply(function () {
        record.call(this);
        return [200, ack('ok'), { 'X-Request-Id': seen.at(-1)!, 'X-Correlation-Id': ctx.correlationId }];
      });
    await expect(partnerFailure(client().sendMessage(message, ctx))).resolves.toMatchObject({ kind: 'transient', status: 503 });
    await expect(client().sendMessage(message, ctx)).resolves.toEqual({ outcome: 'accepted' });
    expect(seen).toEqual([message.id, message.id]);
  });

  it('a 200 response message saying transient-error is transient', async () => {
    receiver().post(PATH).reply(200, ack('transient-error'), MIRROR_INTEGRITY);
    expect(await partnerFailure(client().sendMessage(message, ctx))).toMatchObject({ kind: 'transient' });
  });
});
